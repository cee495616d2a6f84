"""Huey tasks of the WeCom channel: an interface, no logic (ids in, services called, safe to run twice).

Callback processing is not a huey task: it runs from the outbox (``handlers.py``), which does not lose work.
Syncs and rotations may be lost with a worker and are asked for again (the console's button, the periodic ticks).
"""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from siyu.kernel.actor import Actor

from . import grouplivecodes, livecodes, sync, transfers
from .models import Corp, GroupChat, LiveCode, SyncRun


@db_task(name="wecom.sync.run")
def run_sync(org_id: int, run_id: int) -> str:
    return sync.run(run_id, org_id=org_id).status


@db_task(name="wecom.livecode.rotate")
def rotate_live_code(org_id: int, code_id: int) -> bool:
    code = LiveCode.objects.in_org(Actor.system(org_id, label="wecom")).filter(pk=code_id).select_related(
        "corp").first()
    return livecodes.rotate(code) if code else False


@db_periodic_task(crontab(minute="*/5"), name="wecom.livecode.rotate_all")
def rotate_all() -> int:
    """Working hours begin and end, days roll over (caps reset): point every contact way at the right staff."""
    changed = 0
    for org_id in Corp.objects.unscoped_all_orgs().filter(is_active=True).values_list("org_id", flat=True).distinct():
        for code in livecodes.active_codes(Actor.system(org_id, label="wecom")).select_related("corp"):
            try:
                changed += livecodes.rotate(code)
            except Exception:  # noqa: BLE001 - one corp's outage must not stop the others
                continue
    return changed


@db_periodic_task(crontab(minute="10", hour="4"), name="wecom.sync.reconcile_all")
def reconcile_all() -> int:
    """Daily reconcile of every active corp: repairs what missed callbacks left out."""
    started = 0
    for corp in Corp.objects.unscoped_all_orgs().filter(is_active=True):
        run = SyncRun.objects.create(org_id=corp.org_id, corp=corp, kind=SyncRun.Kind.RECONCILE)
        sync.run(run.pk, org_id=corp.org_id)
        started += 1
    return started


@db_task(name="wecom.groupcode.route")
def route_group_codes(org_id: int, group_id: int) -> int:
    """A group's members changed: group live codes listing it keep only groups with room."""
    group = GroupChat.objects.in_org(Actor.system(org_id, label="wecom")).filter(pk=group_id).select_related(
        "corp").first()
    if group is None:
        return 0
    return sum(grouplivecodes.route(code) for code in grouplivecodes.codes_for_group(group))


@db_periodic_task(crontab(minute="*/15"), name="wecom.transfer.poll_all")
def poll_transfers() -> int:
    """Ask WeCom for the results of waiting transfers (taken over 24 h after the start, or refused)."""
    settled = 0
    for corp in Corp.objects.unscoped_all_orgs().filter(is_active=True):
        try:
            settled += transfers.poll_results(corp)
        except Exception:  # noqa: BLE001 - one corp's outage must not stop the others
            continue
    return settled
