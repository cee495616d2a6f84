"""``siyu bench-data --size S|M [--org ORG]``: reproducible synthetic customers for demos and benchmarks."""

from __future__ import annotations

import sys
import time

from django.core.management.base import BaseCommand, CommandError

from siyu.cdp.demo_data import SIZES, Progress, generate
from siyu.cdp.models import Profile
from siyu.iam import services as iam
from siyu.iam.models import Membership
from siyu.iam.selectors import organization_by_slug_or_id
from siyu.kernel.actor import Actor


class Command(BaseCommand):
    help = "Generate reproducible synthetic profiles, identities, tags, consent and events."

    def add_arguments(self, parser):
        parser.add_argument("--size", choices=sorted(SIZES), default="S")
        parser.add_argument("--org", help="organisation id or slug (default: a new 'Bench <size>' organisation)")
        parser.add_argument("--profiles", type=int, help="override the size's profile count")
        parser.add_argument("--events", type=int, help="override the size's event count")
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--if-empty", action="store_true",
                            help="do nothing when the organisation already has profiles (for make run)")

    def handle(self, *args, size, org, profiles, events, seed, if_empty, **opts):
        n_profiles, n_events = SIZES[size]
        n_profiles = profiles if profiles is not None else n_profiles
        n_events = events if events is not None else n_events
        if n_profiles < 1 or n_events < 0:
            raise CommandError("--profiles must be at least 1 and --events at least 0")
        if org:
            organisation = organization_by_slug_or_id(org)
            if organisation is None:
                raise CommandError(f"no organisation {org!r}")
        else:
            organisation = iam.create_organization(
                name=f"Bench {size} {int(time.time())}", admin_email=f"bench-{size.lower()}@siyu.local",
                admin_password="bench-password-" + str(seed)).org
        actor = Actor.system(organisation.pk, label="bench-data")
        if if_empty and Profile.objects.in_org(actor).exists():
            self.stdout.write(f"organisation {organisation.slug} already has customers: nothing generated")
            return
        owners = list(Membership.objects.in_org(actor).values_list("user_id", "department_id")) or [(None, None)]
        started = time.monotonic()

        def report(stage: str, done: int, total: int) -> None:
            rate = done / max(time.monotonic() - started, 1e-6)
            sys.stderr.write(f"\r{stage}: {done:,}/{total:,} ({rate:,.0f}/s)   ")
            if done == total:
                sys.stderr.write("\n")

        counts = generate(actor=actor, profiles=n_profiles, events=n_events, seed=seed, owners=owners,
                          progress=Progress(report))
        self.stdout.write(f"organisation {organisation.pk} ({organisation.slug}): "
                          + ", ".join(f"{k} {v:,}" for k, v in counts.items())
                          + f" in {time.monotonic() - started:.1f}s")
