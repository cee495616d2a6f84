"""The approval engine's API under ``/api/v1/platform/approvals``: processes, submit, decide, recall, comment,
delegation and the inbox. Requests outside what the caller may see answer 404 and nothing changes; deciding
needs a pending task of the current step (403 otherwise)."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status

from siyu.kernel.api import ERRORS, actor_of, require
from siyu.kernel.errors import NotFound
from siyu.kernel.pagination import paginate

from . import selectors, services
from .models import ApprovalProcess
from .schemas import (
    CommentIn,
    CountOut,
    DecisionIn,
    DelegationIn,
    DelegationOut,
    NoticeOut,
    ProcessIn,
    ProcessOut,
    ReadIn,
    RequestOut,
    RequestPage,
    SubmitIn,
)

router = Router(tags=["approvals"])


class ListParams(Schema):
    box: str = "all"
    status: str | None = None
    cursor: str | None = None
    limit: int = 50


class ActiveIn(Schema):
    is_active: bool


@router.get("/processes", response={200: list[ProcessOut], **ERRORS}, summary="Approval processes")
def list_processes(request: HttpRequest):
    actor = require(request, "platform.approval.manage")
    return list(ApprovalProcess.objects.in_org(actor).order_by("object_key", "priority", "id"))


@router.post("/processes", response={201: ProcessOut, **ERRORS}, summary="Define an approval process")
def create_process(request: HttpRequest, payload: ProcessIn):
    actor = require(request, "platform.approval.manage")
    return Status(201, services.create_process(actor=actor, **payload.model_dump()))


@router.post("/processes/{process_id}/active", response={200: ProcessOut, **ERRORS},
             summary="Switch a process on or off")
def set_active(request: HttpRequest, process_id: int, payload: ActiveIn):
    actor = require(request, "platform.approval.manage")
    return services.set_process_active(actor=actor, process_id=process_id, active=payload.is_active)


@router.get("/requests", response={200: RequestPage, **ERRORS}, summary="Approval requests (todo, mine, all)")
def list_requests(request: HttpRequest, params: Query[ListParams]):
    actor = actor_of(request)  # everyone sees what they submitted or approve; manage sees the organisation
    page = paginate(selectors.requests_for(actor, box=params.box, status=params.status), order=["-id"],
                    cursor=params.cursor, limit=params.limit)
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.post("/requests", response={201: RequestOut, **ERRORS}, summary="Submit a record for approval")
def submit(request: HttpRequest, payload: SubmitIn):
    actor = actor_of(request)  # platform.approval.submit or the record owner's own submit permission
    req = services.submit(actor=actor, object_key=payload.object_key, object_id=payload.object_id,
                          comment=payload.comment)
    return Status(201, selectors.request_detail(actor, req.pk))


@router.get("/requests/{request_id}", response={200: RequestOut, **ERRORS}, summary="One approval request")
def get_request(request: HttpRequest, request_id: int):
    return selectors.request_detail(actor_of(request), request_id)


@router.post("/requests/{request_id}/decision", response={200: RequestOut, **ERRORS},
             summary="Approve or reject (current step's approver)")
def decide(request: HttpRequest, request_id: int, payload: DecisionIn):
    actor = actor_of(request)
    services.decide(actor=actor, request_id=request_id, approve=payload.approve, comment=payload.comment)
    return selectors.request_detail(actor, request_id)


@router.post("/requests/{request_id}/recall", response={200: RequestOut, **ERRORS}, summary="Recall (submitter)")
def recall(request: HttpRequest, request_id: int, payload: CommentIn | None = None):
    actor = actor_of(request)
    services.recall(actor=actor, request_id=request_id, comment=payload.body if payload else "")
    return selectors.request_detail(actor, request_id)


@router.post("/requests/{request_id}/comments", response={201: RequestOut, **ERRORS}, summary="Comment")
def comment(request: HttpRequest, request_id: int, payload: CommentIn):
    actor = actor_of(request)
    services.add_comment(actor=actor, request_id=request_id, body=payload.body)
    return Status(201, selectors.request_detail(actor, request_id))


@router.post("/delegations", response={201: DelegationOut, **ERRORS}, summary="Delegate while away")
def delegate(request: HttpRequest, payload: DelegationIn):
    actor = actor_of(request)
    members = _member_user_ids(actor, payload.delegate_id)
    return Status(201, services.set_delegation(actor=actor, delegate_id=payload.delegate_id,
                                               starts_at=payload.starts_at, ends_at=payload.ends_at,
                                               member_ids=members))


def _member_user_ids(actor, user_id: int) -> set[int]:
    from siyu.iam.models import Membership  # iam is one of platform's allowed seams

    return set(Membership.objects.in_org(actor).filter(user_id=user_id, is_active=True)
               .values_list("user_id", flat=True))


@router.get("/inbox", response={200: list[NoticeOut], **ERRORS}, summary="My approval notices")
def inbox(request: HttpRequest, unread: bool = False):
    actor = actor_of(request)
    if actor.user_id is None:
        raise NotFound("no inbox for API keys")
    return list(selectors.inbox(actor, unread=unread).order_by("-id")[:100])


@router.post("/inbox/read", response={200: CountOut, **ERRORS}, summary="Mark notices read")
def mark_read(request: HttpRequest, payload: ReadIn):
    return {"count": services.mark_read(actor=actor_of(request), notice_ids=payload.ids)}
