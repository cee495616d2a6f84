"""The approval engine's writes: submit, approve/reject, recall, comment, delegate, remind, processes.

A request walks the process's ordered steps; each step's approvers are resolved when the step opens (delegation
applied then); ``any`` closes the step on the first approval, ``all`` waits for every approver; one rejection
rejects the request. Final approval freezes the record's snapshot (canonical JSON + SHA-256). Every change is
audited; the record's owner learns the state through its registered :class:`~.registry.Subject`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from decimal import Decimal, InvalidOperation
from typing import Any

from siyu.kernel import clock, scheduled
from siyu.kernel.actor import Actor
from siyu.kernel.auditing import record_write
from siyu.kernel.errors import Conflict, NotFound, PermissionDenied, ValidationFailed

from . import registry
from .models import (
    ApprovalComment,
    ApprovalDelegation,
    ApprovalNotice,
    ApprovalProcess,
    ApprovalRequest,
    ApprovalTask,
    RequestStatus,
    TaskStatus,
)

OBJECT = "platform.approval"
REMIND_ACTION = "platform.approval.remind"
OPS = {"eq", "ne", "gt", "gte", "lt", "lte", "in", "contains"}


def canonical_hash(data: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a snapshot (sorted keys, no spaces): what "frozen" is checked against."""
    raw = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()


def _need(actor: Actor, operation: str, alternative: str = "") -> None:
    if not actor.can(operation) and not (alternative and actor.can(alternative)):
        raise PermissionDenied(f"missing permission {operation}", code="permission_denied")


def _num(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def condition_holds(cond: dict[str, Any], snapshot: dict[str, Any]) -> bool:
    value, op, want = snapshot.get(cond.get("field", "")), cond.get("op", "eq"), cond.get("value")
    if op in {"gt", "gte", "lt", "lte"}:
        a, b = _num(value), _num(want)
        if a is None or b is None:
            return False
        return {"gt": a > b, "gte": a >= b, "lt": a < b, "lte": a <= b}[op]
    if op == "in":
        return str(value) in {str(w) for w in (want or [])}
    if op == "contains":
        return str(want) in str(value or "")
    same = str(value) == str(want) if _num(value) is None or _num(want) is None else _num(value) == _num(want)
    return same if op == "eq" else not same


def _clean_process(object_key: str, name: str, conditions: list, steps: list) -> None:
    errors: dict[str, list[str]] = {}
    if registry.subject(object_key) is None:
        errors["object_key"] = [f"no approvable object {object_key!r}"]
    if not name.strip():
        errors["name"] = ["required"]
    for c in conditions:
        if not isinstance(c, dict) or not c.get("field") or c.get("op", "eq") not in OPS:
            errors.setdefault("conditions", []).append(f"invalid condition {c!r}")
    if not steps:
        errors["steps"] = ["at least one step"]
    for i, s in enumerate(steps):
        if not isinstance(s, dict) or s.get("mode", "any") not in {"any", "all"} or not s.get("approvers"):
            errors.setdefault("steps", []).append(f"step {i + 1}: mode any|all and approvers are required")
            continue
        for a in s["approvers"]:
            if not isinstance(a, dict) or registry.resolver(a.get("kind", "")) is None:
                errors.setdefault("steps", []).append(f"step {i + 1}: unknown approver {a!r}")
    if errors:
        raise ValidationFailed("invalid approval process", fields=errors)


def create_process(*, actor: Actor, object_key: str, name: str, steps: list[dict[str, Any]],
                   conditions: list[dict[str, Any]] | None = None, priority: int = 0,
                   remind_after_hours: int = 24) -> ApprovalProcess:
    """Define an approval process for records of ``object_key``."""
    _need(actor, "platform.approval.manage")
    conditions = conditions or []
    _clean_process(object_key, name, conditions, steps)
    p = ApprovalProcess.objects.create(org_id=actor.org_id, object_key=object_key, name=name.strip(),
                                       conditions=conditions, steps=steps, priority=priority,
                                       remind_after_hours=remind_after_hours)
    record_write(actor, "create", "platform.approval_process", p.pk,
                 {"name": [None, p.name], "object_key": [None, object_key], "steps": [None, steps]})
    return p


def set_process_active(*, actor: Actor, process_id: int, active: bool) -> ApprovalProcess:
    _need(actor, "platform.approval.manage")
    p = ApprovalProcess.objects.in_org(actor).filter(pk=process_id).first()
    if p is None:
        raise NotFound("not found")
    if p.is_active != active:
        record_write(actor, "update", "platform.approval_process", p.pk, {"is_active": [p.is_active, active]})
        p.is_active = active
        p.save(update_fields=["is_active", "updated_at"])
    return p


def _matching_process(actor: Actor, object_key: str, snap: dict[str, Any]) -> ApprovalProcess | None:
    for p in ApprovalProcess.objects.in_org(actor).filter(object_key=object_key, is_active=True).order_by(
            "priority", "id"):
        if all(condition_holds(c, snap) for c in p.conditions):
            return p
    return None


def _notify(req: ApprovalRequest, user_ids: list[int], kind: str, text: str) -> None:
    users = sorted(set(user_ids))
    ApprovalNotice.objects.bulk_create([ApprovalNotice(org_id=req.org_id, user_id=u, request=req, kind=kind,
                                                       text=text[:300]) for u in users])
    for notify in registry.notifiers():
        notify(req.org_id, users, text, req.pk)


def _delegate_of(org_id: int, user_id: int, at: dt.datetime) -> int | None:
    d = (ApprovalDelegation.objects.in_org(Actor.system(org_id))
         .filter(user_id=user_id, starts_at__lte=at, ends_at__gt=at).order_by("-id").first())
    return d.delegate_id if d else None


def _open_step(actor: Actor, req: ApprovalRequest) -> None:
    step = req.process.steps[req.step]
    ctx_args = dict(org_id=req.org_id, submitter_id=req.submitted_by_id, snapshot=req.submitted_snapshot)
    approvers: list[int] = []
    for a in step["approvers"]:
        fn = registry.resolver(a["kind"])
        for uid in fn(registry.ResolveContext(value=a.get("value"), **ctx_args)) if fn else []:
            if uid not in approvers:
                approvers.append(uid)
    if not approvers:
        raise ValidationFailed("no approver found for this step", fields={"step": [step.get("name", "")]})
    now = clock.now()
    tasks = []
    for uid in approvers:
        delegate = _delegate_of(req.org_id, uid, now)
        tasks.append(ApprovalTask(org_id=req.org_id, request=req, step=req.step, approver_id=delegate or uid,
                                  on_behalf_of_id=uid if delegate else None))
    ApprovalTask.objects.bulk_create(tasks)
    _notify(req, [t.approver_id for t in tasks], "task", f"待审批 / To approve: {req.title}")
    scheduled.schedule(action=REMIND_ACTION, key=f"approval:{req.pk}:step:{req.step}:remind",
                       due_at=now + dt.timedelta(hours=req.process.remind_after_hours),
                       args={"request_id": req.pk, "step": req.step}, org_id=req.org_id)


def submit(*, actor: Actor, object_key: str, object_id: Any, comment: str = "") -> ApprovalRequest:
    """Submit a record for approval. With no matching process it is approved at once (and frozen all the same);
    a record already pending or approved answers 409."""
    subj = registry.subject(object_key)
    _need(actor, "platform.approval.submit", subj.submit_permission if subj else "")
    obj = subj.load(actor, str(object_id)) if subj else None
    if obj is None:
        raise NotFound("not found")
    latest = _latest(actor, object_key, str(object_id))
    if latest is not None and latest.status in {RequestStatus.PENDING, RequestStatus.APPROVED}:
        raise Conflict(f"already {latest.status}", code=f"approval_{latest.status}")
    snap = subj.snapshot(obj)
    process = _matching_process(actor, object_key, snap)
    req = ApprovalRequest.objects.create(org_id=actor.org_id, process=process, object_key=object_key,
                                         object_id=str(object_id), title=subj.title(obj)[:200],
                                         submitted_by_id=actor.user_id, submitted_snapshot=snap)
    ApprovalComment.objects.create(org_id=actor.org_id, request=req, user_id=actor.user_id, kind="submit",
                                   body=comment[:1000])
    record_write(actor, "submit", OBJECT, req.pk, {"status": [None, "pending"]}, subject_key=object_key,
                 subject_id=str(object_id), process=process.pk if process else None)
    if process is None:
        _finish(actor, req, obj, RequestStatus.APPROVED)
        return req
    subj.on_state(actor, obj, "pending")
    _open_step(actor, req)
    return req


def _latest(actor: Actor, object_key: str, object_id: str) -> ApprovalRequest | None:
    return (ApprovalRequest.objects.in_org(actor).filter(object_key=object_key, object_id=object_id)
            .order_by("-id").first())


def _load_subject(actor: Actor, req: ApprovalRequest) -> Any:
    subj = registry.subject(req.object_key)
    obj = None
    if subj is not None:
        # Approvers decide on records outside their own data scope: the request, not the scope, gives access.
        obj = subj.load_for_system(req.org_id, req.object_id) if subj.load_for_system else subj.load(
            Actor.system(req.org_id), req.object_id)
    if obj is None:
        raise Conflict("the record is gone", code="approval_subject_missing")
    return subj, obj


def _finish(actor: Actor, req: ApprovalRequest, obj: Any, status: str) -> None:
    subj = registry.subject(req.object_key)
    req.status, req.decided_at = status, clock.now()
    fields = ["status", "decided_at", "updated_at"]
    if status == RequestStatus.APPROVED:
        req.snapshot = subj.snapshot(obj)
        req.snapshot_hash = canonical_hash(req.snapshot)
        fields += ["snapshot", "snapshot_hash"]
    req.save(update_fields=fields)
    ApprovalTask.objects.filter(request=req, status=TaskStatus.PENDING).update(status=TaskStatus.SKIPPED)
    scheduled.cancel(f"approval:{req.pk}:step:{req.step}:remind")
    record_write(actor, status, OBJECT, req.pk, {"status": ["pending", status]}, subject_key=req.object_key,
                 subject_id=req.object_id, snapshot_hash=req.snapshot_hash)
    subj.on_state(actor, obj, status)
    if req.submitted_by_id and req.submitted_by_id != actor.user_id:
        _notify(req, [req.submitted_by_id], status, f"{status}: {req.title}")


def visible_requests(actor: Actor):
    """Requests the actor may see: all of the organisation with ``platform.approval.read`` (or ``.manage``),
    else those it submitted or has (had) a task in, itself or as the one who delegated."""
    qs = ApprovalRequest.objects.in_org(actor)
    if actor.can("platform.approval.read") or actor.can("platform.approval.manage"):
        return qs
    from django.db.models import Q

    mine = ApprovalTask.objects.in_org(actor).filter(
        Q(approver_id=actor.user_id) | Q(on_behalf_of_id=actor.user_id)).values("request_id")
    return qs.filter(Q(submitted_by_id=actor.user_id) | Q(pk__in=mine))


def _visible_request(actor: Actor, request_id: int, *, for_update: bool = False) -> ApprovalRequest:
    qs = visible_requests(actor).filter(pk=request_id)
    req = (qs.select_for_update(of=("self",)) if for_update else qs).select_related("process").first()
    if req is None:
        raise NotFound("not found")
    return req


def decide(*, actor: Actor, request_id: int, approve: bool, comment: str = "") -> ApprovalRequest:
    """Approve or reject as one of the current step's approvers (or their delegate): being named by the
    process is the authorisation, whatever else the approver's roles allow."""
    req = _visible_request(actor, request_id, for_update=True)
    if req.status != RequestStatus.PENDING:
        raise Conflict(f"the request is {req.status}", code="approval_not_pending")
    task = (ApprovalTask.objects.in_org(actor).filter(request=req, step=req.step, status=TaskStatus.PENDING,
                                                     approver_id=actor.user_id).first())
    if task is None:
        raise PermissionDenied("you are not an approver of this step", code="not_approver")
    _, obj = _load_subject(actor, req)
    now = clock.now()
    task.status = TaskStatus.APPROVED if approve else TaskStatus.REJECTED
    task.comment, task.decided_at = comment[:500], now
    task.save(update_fields=["status", "comment", "decided_at", "updated_at"])
    ApprovalComment.objects.create(org_id=req.org_id, request=req, user_id=actor.user_id,
                                   kind="approve" if approve else "reject", body=comment[:1000])
    record_write(actor, "approve" if approve else "reject", "platform.approval_task", task.pk,
                 {"status": ["pending", task.status]}, request=req.pk, step=req.step)
    if not approve:
        _finish(actor, req, obj, RequestStatus.REJECTED)
        return req
    mode = req.process.steps[req.step].get("mode", "any")
    pending = ApprovalTask.objects.filter(request=req, step=req.step, status=TaskStatus.PENDING).exists()
    if mode == "all" and pending:
        return req
    ApprovalTask.objects.filter(request=req, step=req.step, status=TaskStatus.PENDING).update(
        status=TaskStatus.SKIPPED)
    scheduled.cancel(f"approval:{req.pk}:step:{req.step}:remind")
    if req.step + 1 >= len(req.process.steps):
        _finish(actor, req, obj, RequestStatus.APPROVED)
        return req
    req.step += 1
    req.save(update_fields=["step", "updated_at"])
    _open_step(actor, req)
    return req


def recall(*, actor: Actor, request_id: int, comment: str = "") -> ApprovalRequest:
    """The submitter takes a pending request back; the record is editable again."""
    req = _visible_request(actor, request_id, for_update=True)
    if req.submitted_by_id != actor.user_id:
        raise PermissionDenied("only the submitter may recall", code="not_submitter")
    if req.status != RequestStatus.PENDING:
        raise Conflict(f"the request is {req.status}", code="approval_not_pending")
    _, obj = _load_subject(actor, req)
    ApprovalComment.objects.create(org_id=req.org_id, request=req, user_id=actor.user_id, kind="recall",
                                   body=comment[:1000])
    waiting = list(ApprovalTask.objects.filter(request=req, status=TaskStatus.PENDING)
                   .values_list("approver_id", flat=True))
    _finish(actor, req, obj, RequestStatus.RECALLED)
    _notify(req, waiting, "recalled", f"recalled: {req.title}")
    return req


def add_comment(*, actor: Actor, request_id: int, body: str) -> ApprovalComment:
    req = _visible_request(actor, request_id)
    if not body.strip():
        raise ValidationFailed("empty comment", fields={"body": ["required"]})
    c = ApprovalComment.objects.create(org_id=req.org_id, request=req, user_id=actor.user_id, kind="comment",
                                       body=body.strip()[:1000])
    record_write(actor, "comment", OBJECT, req.pk, {"comment": [None, c.body]})
    return c


def set_delegation(*, actor: Actor, delegate_id: int, starts_at: dt.datetime, ends_at: dt.datetime,
                   member_ids: set[int] | None = None) -> ApprovalDelegation:
    """While the actor is away, new approval tasks go to ``delegate_id`` (a member of the organisation:
    ``member_ids`` is the set the caller checked it against)."""
    if actor.user_id is None:
        raise PermissionDenied("only a person delegates", code="permission_denied")
    errors: dict[str, list[str]] = {}
    if ends_at <= starts_at:
        errors["ends_at"] = ["must be after starts_at"]
    if delegate_id == actor.user_id or (member_ids is not None and delegate_id not in member_ids):
        errors["delegate_id"] = ["not a valid delegate"]
    if errors:
        raise ValidationFailed("invalid delegation", fields=errors)
    d = ApprovalDelegation.objects.create(org_id=actor.org_id, user_id=actor.user_id, delegate_id=delegate_id,
                                          starts_at=starts_at, ends_at=ends_at)
    record_write(actor, "create", "platform.approval_delegation", d.pk,
                 {"delegate_id": [None, delegate_id], "ends_at": [None, ends_at]})
    return d


def mark_read(*, actor: Actor, notice_ids: list[int]) -> int:
    return (ApprovalNotice.objects.in_org(actor).filter(user_id=actor.user_id, pk__in=notice_ids,
                                                         read_at__isnull=True).update(read_at=clock.now()))


def remind(due: scheduled.DueAction) -> None:
    """Scheduled: remind the approvers still pending on the step the reminder was set for."""
    req = ApprovalRequest.objects.in_org(Actor.system(due.org_id)).filter(pk=due.args["request_id"]).first()
    if req is None or req.status != RequestStatus.PENDING or req.step != due.args["step"]:
        return
    waiting = list(ApprovalTask.objects.filter(request=req, step=req.step, status=TaskStatus.PENDING)
                   .values_list("approver_id", flat=True))
    if waiting:
        _notify(req, waiting, "reminder", f"提醒 / Reminder: {req.title}")


scheduled.register_action(REMIND_ACTION, remind)


def verify_frozen(req: ApprovalRequest) -> bool:
    """Whether an approved request's stored snapshot still matches its hash (tamper check)."""
    return bool(req.snapshot is not None and req.snapshot_hash == canonical_hash(req.snapshot))
