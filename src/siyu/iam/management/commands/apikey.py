"""``siyu apikey create --org ORG --name NAME --scopes a,b``: issue an API key (printed once, stored hashed);
``siyu apikey list --org ORG`` and ``siyu apikey revoke --org ORG --prefix PREFIX`` for operators."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from siyu.iam import selectors, services
from siyu.kernel.actor import Actor
from siyu.kernel.errors import DomainError

from .createorg import domain_error_text


class Command(BaseCommand):
    help = "Manage API keys: create (prints the key once), list, revoke."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="issue a key")
        create.add_argument("--org", required=True, help="organisation id or slug")
        create.add_argument("--name", required=True)
        create.add_argument("--scopes", required=True, help="comma-separated operations or wildcards, e.g. cdp.*")
        listing = sub.add_parser("list", help="list keys (never the secrets)")
        listing.add_argument("--org", required=True)
        revoke = sub.add_parser("revoke", help="revoke a key by its prefix")
        revoke.add_argument("--org", required=True)
        revoke.add_argument("--prefix", required=True)

    def handle(self, *args, **opts):
        org = selectors.organization_by_slug_or_id(opts["org"].strip())
        if org is None:
            raise CommandError(f"no organisation {opts['org']!r} (give its id or slug)")
        # An operator at the command line acts for the whole organisation.
        actor = Actor.system(org.pk, label="cli")
        try:
            with transaction.atomic():
                getattr(self, f"_{opts['action']}")(actor, opts)
        except DomainError as exc:
            raise CommandError(domain_error_text(exc)) from exc

    def _create(self, actor, opts):
        scopes = [s.strip() for s in opts["scopes"].split(",") if s.strip()]
        key, raw = services.issue_api_key(actor=actor, name=opts["name"], scopes=scopes)
        self.stderr.write(f"API key {key.name!r} (prefix {key.prefix}) for organisation {actor.org_id}; "
                          "it is shown once, store it now:")
        self.stdout.write(raw)

    def _list(self, actor, opts):
        for key in selectors.api_keys_for(actor).order_by("pk"):
            state = "revoked" if key.revoked_at else "active"
            self.stdout.write(f"{key.prefix}\t{state}\t{key.name}\t{','.join(key.scopes)}")

    def _revoke(self, actor, opts):
        key = selectors.api_keys_for(actor).filter(prefix=opts["prefix"].strip()).first()
        if key is None:
            raise CommandError(f"no key with prefix {opts['prefix']!r} in this organisation")
        services.revoke_api_key(actor=actor, key=key)
        self.stdout.write(f"revoked {key.prefix}")
