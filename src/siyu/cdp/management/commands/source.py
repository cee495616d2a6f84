"""``siyu source create --org ORG --name NAME`` (prints the write key once) and ``siyu source list --org ORG``."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from siyu.cdp.ingest.sources import create_source, list_sources
from siyu.iam.selectors import organization_by_slug_or_id
from siyu.kernel.actor import Actor


class Command(BaseCommand):
    help = "Create and list event sources (Segment-compatible write keys)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create a source and print its write key (shown only once)")
        create.add_argument("--org", required=True, help="organisation id or slug")
        create.add_argument("--name", required=True)
        listing = sub.add_parser("list", help="list an organisation's sources (never their keys)")
        listing.add_argument("--org", required=True, help="organisation id or slug")

    def handle(self, *args, action, org, **opts):
        organisation = organization_by_slug_or_id(org)
        if organisation is None:
            raise CommandError(f"no organisation {org!r}")
        actor = Actor.system(organisation.pk, label="cli:source")
        if action == "create":
            with transaction.atomic():
                source, key = create_source(actor=actor, name=opts["name"])
            self.stdout.write(f"source {source.pk} ({source.name}) in organisation {organisation.slug}\n")
            self.stdout.write("write key (shown only once, store it now):\n")
            self.stdout.write(key + "\n")
            return
        for s in list_sources(actor=actor):
            state = "active" if s.is_active else "inactive"
            self.stdout.write(f"{s.pk}\t{s.name}\t{s.key_prefix}…\t{state}\t{s.created_at:%Y-%m-%d %H:%M}\n")
