"""``siyu import FILE --mapping MAP.json --org ORG [--dry-run] [--as EMAIL]``: import customers from a CSV or
XLSX file on this machine, with a progress line and a summary.

Resumable: running the same command again (same file content, same organisation) after a kill or a failure
goes on from the last committed chunk of that unfinished job, with the same end state as an uninterrupted run.
A file already imported is not imported twice unless ``--new`` asks for a fresh job.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from siyu.cdp.importing import readers, runner, services
from siyu.cdp.importing.mapping import normalise_mapping
from siyu.cdp.models import ImportJob
from siyu.iam.models import Membership
from siyu.iam.selectors import actor_for_membership, organization_by_slug_or_id
from siyu.kernel.actor import Actor
from siyu.kernel.errors import DomainError


class Command(BaseCommand):
    help = "Import customers from a CSV/XLSX file through a column mapping (resumable)."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--mapping", required=True, help="mapping JSON file (see cdp/importing/README.md)")
        parser.add_argument("--org", required=True, help="organisation id or slug")
        parser.add_argument("--dry-run", action="store_true", help="count what would happen, write nothing")
        parser.add_argument("--as", dest="as_email", help="act as this member (default: a system actor)")
        parser.add_argument("--new", action="store_true", help="import again even if this file was imported")
        parser.add_argument("--chunk", type=int, default=runner.CHUNK_ROWS, help="rows per transaction")

    def handle(self, *args, file, mapping, org, dry_run, as_email, new, chunk, **opts):
        path = Path(file).resolve()
        if not path.is_file():
            raise CommandError(f"no file {file}")
        try:
            wanted = normalise_mapping(json.loads(Path(mapping).read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read the mapping: {exc}") from None
        except DomainError as exc:
            raise CommandError(_problem(exc)) from None
        organisation = organization_by_slug_or_id(org)
        if organisation is None:
            raise CommandError(f"no organisation {org!r}")
        actor = self._actor(organisation.pk, as_email)
        try:
            job = self._job(actor, path, wanted, dry_run, new)
            if job.status == ImportJob.Status.DONE:
                self.stdout.write(f"{path.name} was imported already (job #{job.pk}); --new imports it again")
                self._summary(job, 0.0)
                return
            with transaction.atomic():
                runner.begin_run(actor=actor, job_id=job.pk, dry_run=dry_run, force=True)
            started = time.monotonic()
            job = runner.run_job(actor=actor, job_id=job.pk, chunk_rows=chunk, progress=self._progress(started),
                                 fault=_kill_switch())
        except DomainError as exc:
            raise CommandError(_problem(exc)) from None
        sys.stderr.write("\n")
        self._summary(job, time.monotonic() - started)

    def _actor(self, org_id: int, email: str | None) -> Actor:
        if not email:
            return Actor.system(org_id, label="siyu import")
        member = (Membership.objects.in_org(Actor.system(org_id)).filter(user__email__iexact=email, is_active=True)
                  .select_related("user").first())
        if member is None:
            raise CommandError(f"no active member {email} in this organisation")
        return actor_for_membership(member)

    def _job(self, actor: Actor, path: Path, mapping: dict, dry_run: bool, new: bool) -> ImportJob:
        """The latest job of this file (same path and content) to resume, or a new one."""
        sha = readers.inspect(path).sha256
        jobs = ImportJob.objects.in_org(actor).filter(file_path=str(path)).order_by("-pk")
        job = None if new else next((j for j in jobs if (j.mapping.get("_file") or {}).get("sha256") == sha), None)
        if job is not None and not (job.status == ImportJob.Status.DONE and dry_run):
            if job.status == ImportJob.Status.DONE:
                return job
            if job.status in (ImportJob.Status.RUNNING, ImportJob.Status.FAILED):
                if dry_run and not job.dry_run and job.done_rows:
                    raise CommandError(f"job #{job.pk} for this file is unfinished: resume it first, or --new")
                if services.user_mapping(job) != mapping:
                    raise CommandError(f"job #{job.pk} for this file is unfinished with another mapping: "
                                       "run it with that mapping, or pass --new")
                return job
            with transaction.atomic():
                return services.save_mapping(actor=actor, job_id=job.pk, mapping=mapping)
        with transaction.atomic():
            job = services.create_import(actor=actor, file_name=path.name, path=path)
            return services.save_mapping(actor=actor, job_id=job.pk, mapping=mapping)

    def _progress(self, started: float):
        def report(job: ImportJob) -> None:
            r = runner.result_of(job)
            total = max(job.total_rows, job.done_rows)
            pct = 100.0 * job.done_rows / total if total else 100.0
            rate = job.done_rows / max(time.monotonic() - started, 1e-6)
            sys.stderr.write(f"\r{job.done_rows:,}/{total:,} rows ({pct:.0f}%, {rate:,.0f}/s): created "
                             f"{r['created']:,}, merged {r['merged']:,}, errors {r['errors']:,}   ")
            sys.stderr.flush()

        return report

    def _summary(self, job: ImportJob, seconds: float) -> None:
        r = runner.result_of(job)
        kind = "dry run" if job.dry_run else "import"
        self.stdout.write(
            f"{kind} #{job.pk} {job.status}: {job.done_rows:,} rows in {seconds:.1f}s; "
            f"created {r['created']:,}, merged into existing {r['merged']:,} (duplicates in the file "
            f"{r['duplicates']:,}), profiles updated {r['updated']:,}, profiles merged {r['profiles_merged']:,}, "
            f"sent to review {r['reviews']:,}, errors {r['errors']:,}, blank {r['skipped']:,}")
        if job.error_file_path and (r["errors"] or r["reviews"]):
            self.stdout.write(f"error report: {job.error_file_path}")


def _problem(exc: DomainError) -> str:
    details = "; ".join(f"{k}: {', '.join(v)}" for k, v in exc.fields.items())
    return f"{exc.message} ({details})" if details else exc.message


def _kill_switch():
    """Fault injection for the resumability test: SIYU_IMPORT_KILL_AFTER_ROWS=N kills this process with
    SIGKILL when row N is reached (nothing after it commits), as an operator's kill -9 would."""
    after = int(os.environ.get("SIYU_IMPORT_KILL_AFTER_ROWS") or 0)
    if not after:
        return None

    def fault(stage: str, rows: int) -> None:
        if stage == "row" and rows >= after:
            os.kill(os.getpid(), signal.SIGKILL)

    return fault
