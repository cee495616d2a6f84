"""``siyu audit verify [--org ORG]`` and ``siyu audit purge --before DATE [--org ORG]``.

verify walks every chain (or one organisation's) and exits 1 at the first edited, deleted or reordered entry;
purge removes entries past the retention period (never younger than 180 days) and leaves a checkpoint so the
chain still verifies. The work is in ``siyu.audit.verify`` and ``siyu.audit.purge``.
"""

from __future__ import annotations

import datetime as dt
import getpass

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from siyu.audit import purge, verify
from siyu.iam.selectors import organization_by_slug_or_id
from siyu.kernel.errors import DomainError

PRE_ORG = "-"  # --org - : the pre-organisation chain (failed sign-ins of unknown emails)


def _chain_name(org_id: int | None) -> str:
    return "pre-organisation chain" if org_id is None else f"organisation {org_id}"


def _operator() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry in some containers
        return "cli"


class Command(BaseCommand):
    help = "Audit log: `verify` the hash chains, `purge` entries past the retention period."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        v = sub.add_parser("verify", help="Recompute every hash; exit 1 at the first edited, deleted or reordered entry.")
        v.add_argument("--org", help=f"organisation id or slug ({PRE_ORG!r} for the pre-organisation chain); default: all")
        p = sub.add_parser("purge", help="Delete entries older than DATE (which must be at least 180 days ago).")
        p.add_argument("--before", required=True, help="YYYY-MM-DD: entries before this day (server time zone) go")
        p.add_argument("--org", help="organisation id or slug; default: every chain")

    def handle(self, *args, **opts):
        chains = self._chains(opts.get("org"))
        if opts["action"] == "verify":
            self.verify(chains)
        else:
            self.purge(chains, opts["before"])

    def _chains(self, value: str | None) -> list[int | None] | None:
        if value is None:
            return None
        if value == PRE_ORG:
            return [None]
        org = organization_by_slug_or_id(value)
        if org is None:
            raise CommandError(f"no organisation {value!r}", returncode=2)
        return [org.pk]

    # --- verify ---------------------------------------------------------------------------------------------

    def verify(self, chains: list[int | None] | None) -> None:
        def progress(org_id, n):
            self.stderr.write(f"{_chain_name(org_id)}: {n} entries checked…")

        total, problems = 0, 0
        for report in verify.verify_all(chains, progress=progress):
            total += report.entries
            name = _chain_name(report.org_id)
            if report.intact:
                head = f"head #{report.head_seq} {report.head_hash}" if report.head_hash else "empty"
                self.stdout.write(f"{name}: {report.entries} entries, chain intact ({head})")
                continue
            for p in report.problems:
                problems += 1
                self.stdout.write(f"{name}: {p.kind.upper()} at seq {p.seq} (entry id {p.entry_id}): {p.detail}")
        if problems:
            raise CommandError(f"audit log: {problems} chain(s) broken", returncode=1)
        self.stdout.write(f"{total} entries, chain intact")

    # --- purge ----------------------------------------------------------------------------------------------

    def purge(self, chains: list[int | None] | None, before_text: str) -> None:
        try:
            day = dt.date.fromisoformat(before_text)
        except ValueError as exc:
            raise CommandError(f"--before must be a date as YYYY-MM-DD, got {before_text!r}", returncode=2) from exc
        before = timezone.make_aware(dt.datetime.combine(day, dt.time.min))
        try:
            purge.check_purge_date(before)
        except DomainError as exc:
            raise CommandError(exc.message, returncode=2) from exc
        total = 0
        for org_id in verify.chain_ids() if chains is None else chains:
            try:
                with transaction.atomic():  # one chain at a time: the checkpoint commits with its deletion
                    result = purge.purge_chain(org_id=org_id, before=before, actor_label=_operator())
            except DomainError as exc:
                raise CommandError(f"{_chain_name(org_id)}: {exc.message}", returncode=1) from exc
            total += result.purged
            if result.purged:
                self.stdout.write(f"{_chain_name(org_id)}: purged {result.purged} entries through seq {result.through_seq}")
        self.stdout.write(f"purged {total} entries older than {day.isoformat()}")
