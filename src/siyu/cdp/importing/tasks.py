"""The background run of an import (``cdp.import.run``): rebuilds who started it and calls the runner.

Huey is at most once: a worker killed mid-import loses the task, not the work. The job keeps its resume point,
the console offers "Resume" once the job has not moved for a while (``runner.STALE_SECONDS``) and
``siyu import`` resumes it too; both re-enqueue this task, which goes on from the last committed chunk.
"""

from __future__ import annotations

from huey.contrib.djhuey import db_task

from siyu.iam.models import ApiKey, Membership
from siyu.iam.selectors import actor_for_membership
from siyu.kernel import clock
from siyu.kernel.actor import Actor, DataScope
from siyu.kernel.errors import PermissionDenied

from ..models import ImportJob
from . import runner


def actor_for_job(job: ImportJob) -> Actor:
    """The actor that started the job, with the rights it has now (a member who left, or a revoked or expired
    key, can no longer import)."""
    system = Actor.system(job.org_id)
    key_id = (job.mapping.get("_file") or {}).get("api_key_id")
    if key_id:
        key = ApiKey.objects.in_org(system).filter(pk=key_id, revoked_at__isnull=True).first()
        if key is None or (key.expires_at and key.expires_at <= clock.now()):
            raise PermissionDenied("the API key that started this import is no longer valid")
        return Actor(org_id=key.org_id, user_id=None, permissions=frozenset(key.scopes),
                     default_scope=DataScope.ORGANIZATION, api_key_id=key.pk, label=f"apikey:{key.prefix}")
    if job.created_by_id is None:
        return Actor.system(job.org_id, label="siyu import")
    member = Membership.objects.in_org(system).filter(user_id=job.created_by_id, is_active=True).first()
    if member is None:
        raise PermissionDenied("the member who started this import is no longer active")
    return actor_for_membership(member)


@db_task(name="cdp.import.run")
def run_import(org_id: int, job_id: int) -> None:
    job = ImportJob.objects.in_org(Actor.system(org_id)).filter(pk=job_id).first()
    if job is None or job.status != ImportJob.Status.RUNNING:
        return
    try:
        actor = actor_for_job(job)
    except PermissionDenied as exc:
        runner.fail_job(Actor.system(org_id), job.pk, job.dry_run, exc)
        return
    runner.run_job(actor=actor, job_id=job.pk)
