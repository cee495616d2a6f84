"""Syncs from WeCom, each a ``SyncRun`` with progress, resumable, and idempotent when run twice:

* **employees**: ``department/list`` and ``user/list`` (departments and members), ``get_follow_user_list`` (who has
  the customer-contact feature); a member is mapped to the iam membership with the same mobile or e-mail when
  none is mapped yet; members WeCom no longer lists are marked as having left.
* **contacts** (full sync): for every 100 follow users, ``batch/get_by_user`` page by page (cursor); each contact
  and relation is upserted and a relation Siyu did not know is told to the CDP like a callback add (profile,
  tags, timeline), and gets its live code's tags in WeCom when it lacks them. No welcome message: its window is
  long gone.
* **reconcile**: the full sync, plus relations Siyu thinks are live but WeCom no longer lists for those follow
  users are deleted (``deleted_by=reconcile``). This repairs whatever a missed callback left out, adds and
  employee-side deletions alike (a customer-side deletion keeps the relation listed in WeCom: its callback is the
  only signal, and a reconcile does not revive it).
* **tags**: the corp tag library (``tags.pull_corp_tags``).

Progress is saved after every page, so the console shows it while the job runs; a run interrupted (worker
killed) resumes from its last finished block of follow users when started again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.db import transaction

from siyu.iam.models import Membership
from siyu.kernel import clock, encrypted, jobs, leases
from siyu.kernel.actor import Actor
from siyu.kernel.auditing import record_write

from . import contacts, livecodes, tags
from .corps import client_for, corp_of, require
from .models import Corp, DeletedBy, Department, Employee, FollowRelation, SyncRun

logger = logging.getLogger(__name__)

CHUNK = 100  # batch/get_by_user takes at most 100 follow users


def start_sync(*, actor: Actor, corp_pk: Any, kind: str) -> SyncRun:
    """Queue a sync of ``kind`` (employees, contacts, reconcile, tags) for a corp; the job starts after commit.
    A run of the same kind that is still queued or running is returned instead of starting another."""
    require(actor, "channels.wecom.manage")
    corp = corp_of(actor, corp_pk)
    if kind not in SyncRun.Kind.values:
        from siyu.kernel.errors import ValidationFailed

        raise ValidationFailed("unknown sync", fields={"kind": [f"one of {', '.join(SyncRun.Kind.values)}"]})
    running = SyncRun.objects.in_org(actor).filter(corp=corp, kind=kind,
                                                   status__in=[SyncRun.Status.QUEUED, SyncRun.Status.RUNNING])
    run = running.order_by("-pk").first()
    if run is None:
        run = SyncRun.objects.create(org_id=actor.org_id, corp=corp, kind=kind, requested_by_id=actor.user_id)
        record_write(actor, "create", "wecom.sync_run", run.pk, {"kind": [None, kind]})
    from . import tasks

    jobs.enqueue_on_commit(tasks.run_sync, actor.org_id, run.pk)
    return run


def run(run_pk: int, *, org_id: int) -> SyncRun:
    """Run (or resume) a sync; records ``failed`` with the error instead of raising."""
    actor = Actor.system(org_id, label="wecom.sync")
    sync_run = SyncRun.objects.in_org(actor).select_related("corp").get(pk=run_pk)
    if sync_run.status == SyncRun.Status.DONE:
        return sync_run
    sync_run.status, sync_run.error = SyncRun.Status.RUNNING, ""
    sync_run.started_at = sync_run.started_at or clock.now()
    sync_run.save()
    try:
        if sync_run.kind == SyncRun.Kind.EMPLOYEES:
            with transaction.atomic():
                sync_employees(sync_run.corp, sync_run)
        elif sync_run.kind == SyncRun.Kind.TAGS:
            with transaction.atomic():
                counts = tags.pull_corp_tags(sync_run.corp)
                sync_run.updated, sync_run.deleted = counts["tags"], counts["deleted"]
        elif sync_run.kind == SyncRun.Kind.GROUPS:
            from . import groups  # groups uses the contact upserts this module shares

            counts = groups.sync_groups(sync_run.corp)
            sync_run.total = sync_run.done = counts["groups"]
            sync_run.added, sync_run.updated, sync_run.deleted = counts["added"], counts["updated"], counts["dismissed"]
        else:
            sync_contacts(sync_run.corp, sync_run, reconcile=sync_run.kind == SyncRun.Kind.RECONCILE)
    except Exception as exc:  # noqa: BLE001 - kept on the run for the console, the job itself succeeds
        sync_run.status, sync_run.error = SyncRun.Status.FAILED, leases.describe(exc)
        sync_run.finished_at = clock.now()
        sync_run.save()
        logger.warning("wecom sync %s failed: %s", sync_run.pk, type(exc).__name__)
        return sync_run
    sync_run.status, sync_run.finished_at = SyncRun.Status.DONE, clock.now()
    sync_run.save()
    return sync_run


# --- departments and employees -----------------------------------------------------------------------------------


def sync_employees(corp: Corp, sync_run: SyncRun | None = None) -> dict[str, int]:
    actor = contacts.system_actor(corp)
    client = client_for(corp)
    departments = client.department_list().get("department") or []
    seen_depts = []
    for d in departments:
        row, _ = Department.objects.in_org(actor).update_or_create(
            corp=corp, dept_id=int(d.get("id")),
            defaults={"org_id": corp.org_id, "name": str(d.get("name") or "")[:120],
                      "parent_dept_id": d.get("parentid"), "order": int(d.get("order") or 0)})
        seen_depts.append(row.dept_id)
    Department.objects.in_org(actor).filter(corp=corp).exclude(dept_id__in=seen_depts).delete()
    ids = {int(d.get("id")) for d in departments}
    roots = sorted(int(d.get("id")) for d in departments if d.get("parentid") in (None, 0) or
                   int(d.get("parentid") or 0) not in ids) or [1]
    follow = set(client.get_follow_user_list().get("follow_user") or [])
    users: dict[str, Mapping[str, Any]] = {}
    for root in roots:
        for user in client.user_list(department_id=root, fetch_child=True).get("userlist") or []:
            users[str(user.get("userid"))] = user
    now = clock.now()
    counts = {"added": 0, "updated": 0, "left": 0}
    for userid, user in users.items():
        employee, created = Employee.objects.in_org(actor).get_or_create(
            corp=corp, userid=userid[:64], defaults={"org_id": corp.org_id})
        employee.name = str(user.get("name") or "")[:120]
        employee.department_ids = [int(x) for x in user.get("department") or [] if str(x).lstrip("-").isdigit()]
        employee.status = int(user.get("status") or 1)
        employee.is_follow_user = userid in follow
        employee.synced_at, employee.left_at = now, None
        if employee.membership_id is None:
            employee.membership = _membership_for(actor, user)
        employee.save()
        counts["added" if created else "updated"] += 1
    # Follow users outside the listed departments (visibility) still exist as employees.
    for userid in follow - set(users):
        contacts.employee_for(corp, userid, follow_user=True)
    gone = Employee.objects.in_org(actor).filter(corp=corp, left_at__isnull=True).exclude(
        userid__in=list(users) + list(follow))
    counts["left"] = gone.update(left_at=now, is_follow_user=False)
    if sync_run is not None:
        sync_run.added, sync_run.updated, sync_run.deleted = counts["added"], counts["updated"], counts["left"]
        sync_run.total = sync_run.done = len(users)
    return counts


def _membership_for(actor: Actor, user: Mapping[str, Any]) -> Membership | None:
    """The active iam membership with this member's mobile (blind index) or e-mail, if exactly one matches."""
    members = Membership.objects.in_org(actor).filter(is_active=True)
    mobile = user.get("mobile")
    if mobile:
        index = encrypted.lookup(Membership, "mobile", mobile)
        found = list(members.filter(mobile_index=index)[:2]) if index else []
        if len(found) == 1:
            return found[0]
    email = str(user.get("email") or user.get("biz_mail") or "").strip()
    if email:
        found = list(members.filter(user__email__iexact=email)[:2])
        if len(found) == 1:
            return found[0]
    return None


# --- external contacts ---------------------------------------------------------------------------------------------


def sync_contacts(corp: Corp, sync_run: SyncRun, *, reconcile: bool) -> None:
    """Full sync (and, with ``reconcile``, deletions) through ``batch/get_by_user``, one block of ≤ 100 follow
    users at a time, saving progress after each page."""
    client = client_for(corp)
    follow = sorted(set(client.get_follow_user_list().get("follow_user") or []))
    chunks = [follow[i:i + CHUNK] for i in range(0, len(follow), CHUNK)]
    sync_run.total = len(follow)
    start = int(sync_run.cursor.get("chunk") or 0)
    for index in range(start, len(chunks)):
        chunk = chunks[index]
        with transaction.atomic():
            employees = {u: contacts.employee_for(corp, u, follow_user=True) for u in chunk}
        seen: set[tuple[str, str]] = set()
        for page in client.iter_batch_get_by_user(userid_list=chunk, limit=100):
            with transaction.atomic():
                for item in page.get("external_contact_list") or ():
                    seen.add(_apply_item(corp, employees, item, sync_run))
                sync_run.save()
        if reconcile:
            with transaction.atomic():
                _delete_missing(corp, list(employees.values()), seen, sync_run)
        sync_run.done = min(len(follow), (index + 1) * CHUNK)
        sync_run.cursor = {"chunk": index + 1}
        sync_run.save()


def _apply_item(corp: Corp, employees: dict[str, Employee], item: Mapping[str, Any],
                sync_run: SyncRun) -> tuple[str, str]:
    data = item.get("external_contact") or {}
    info = item.get("follow_info") or {}
    userid = str(info.get("userid") or "")
    employee = employees.get(userid) or contacts.employee_for(corp, userid, follow_user=True)
    contact = contacts.upsert_contact(corp, data)
    relation, live = contacts.apply_add(corp, contact, employee, info, at=None)
    if live and not relation.announced:
        code = relation.live_code
        if code and code.tag_ids:
            tags.mark_live_code_tags(corp, relation, code.tag_ids)
        contacts.announce(corp, relation)
        livecodes.after_relation_change(relation)
        sync_run.added += 1
    else:
        sync_run.updated += 1
    return (userid, contact.external_userid)


def _delete_missing(corp: Corp, employees: list[Employee], seen: set[tuple[str, str]], sync_run: SyncRun) -> None:
    live = FollowRelation.objects.in_org(contacts.system_actor(corp)).filter(
        employee__in=employees, deleted=False, half=False).select_related("employee", "external_contact")
    now = clock.now()
    for relation in live:
        if (relation.employee.userid, relation.external_contact.external_userid) in seen:
            continue
        relation, changed = contacts.apply_delete(corp, relation.external_contact, relation.employee, at=now,
                                                  deleted_by=DeletedBy.RECONCILE)
        if changed:
            livecodes.after_relation_change(relation)
            sync_run.deleted += 1
