"""The CDP API under ``/api/v1/cdp``: profiles and company accounts, identities, tags, consent, lifecycle,
timeline, search and lookup, the merge review queue and the merge log.

Each operation parses, authorises (``require``), calls one service or selector and returns a schema. Lists are
keyset-paginated (``cursor``, ``limit``); profile lists filter with ``filter[field][op]=value`` (standard and
custom fields, through the platform) or ``filters`` as a JSON list, and sort with ``sort``.
"""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import Field

from siyu.kernel import encrypted
from siyu.kernel.api import ERRORS, require
from siyu.kernel.pagination import paginate
from siyu.platform.filtering import parse_json_filters, parse_query_filters

from . import presenters, profiles, selectors, services
from .schemas import (
    AccountCreate,
    ConsentIn,
    ConsentOut,
    ConsentRecordOut,
    IdentifierIn,
    IdentityOut,
    IdentityTypeIn,
    LifecycleOut,
    MergeOut,
    MergePage,
    OwnerIn,
    ProfileCreate,
    ProfileDetail,
    ProfilePage,
    ProfileUpdate,
    ProfileWritten,
    PurposeOut,
    RevealIn,
    RevealOut,
    ReviewOut,
    ReviewPage,
    SearchOut,
    StageIn,
    StageOut,
    StagesIn,
    TagCreate,
    TagOut,
    TagsIn,
    TimelinePage,
)

router = Router(tags=["cdp"])


class ListParams(Schema):
    cursor: str | None = Field(None, max_length=2000)
    limit: int = Field(50, ge=1, le=200)
    sort: str | None = Field(None, max_length=200, description="field or -field, comma-separated (at most 3)")
    filters: str | None = Field(None, max_length=10000, description='JSON: [{"field": "k", "op": "eq", "value": 1}]; '
                                                                    "or use filter[field][op]=value parameters")
    q: str | None = Field(None, max_length=100, description="an exact phone, email or id, or a name")
    tag_id: int | None = None
    lifecycle_stage: str | None = Field(None, max_length=40)
    owner_id: int | None = None
    account_id: int | None = None


def _query(request: HttpRequest, params: ListParams, kind: str | None = None) -> selectors.ProfileQuery:
    filters = parse_query_filters(request.GET) + parse_json_filters(params.filters)
    return selectors.ProfileQuery(filters=tuple(filters), sort=params.sort, kind=kind, tag_id=params.tag_id,
                                  lifecycle_stage=params.lifecycle_stage, owner_id=params.owner_id,
                                  account_id=params.account_id, q=params.q)


def _page(request: HttpRequest, actor, params: ListParams, kind: str | None = None) -> dict:
    meta = selectors.profile_meta(actor)
    page = selectors.page_profiles(actor, meta, _query(request, params, kind), cursor=params.cursor,
                                   limit=params.limit)
    return {"items": [presenters.profile_data(actor, meta, p) for p in page.items], "next_cursor": page.next_cursor}


def _detail(actor, profile_id) -> dict:
    profile = selectors.profile_detail(actor, profile_id)  # first: an outsider's 404 must not even materialise metadata
    return presenters.profile_detail_data(actor, selectors.profile_meta(actor), profile)


def _written(actor, written: profiles.Written):
    body = {"created": written.created, "profile": _detail(actor, written.profile.pk),
            "merged_profile_ids": written.merged_ids, "review_id": written.review_id}
    return Status(201 if written.created else 200, body)


def _create(actor, payload: ProfileCreate | AccountCreate, kind: str):
    data = payload.model_dump(exclude={"identifiers", "custom", "owner_id", "account_id", "lifecycle_stage", "kind"})
    return profiles.create_profile(
        actor=actor, data={**data, "kind": kind}, identifiers=[i.model_dump() for i in payload.identifiers],
        custom=payload.custom, owner_id=payload.owner_id, account_id=getattr(payload, "account_id", None),
        lifecycle_stage=getattr(payload, "lifecycle_stage", None) or "", source=data.get("source") or "api",
    )


# --- profiles ------------------------------------------------------------------------------------------------

@router.get("/profiles", response={200: ProfilePage, **ERRORS}, exclude_unset=True, summary="List profiles")
def list_profiles(request: HttpRequest, params: Query[ListParams]):
    actor = require(request, "cdp.profile.read")
    return _page(request, actor, params)


@router.post("/profiles", response={201: ProfileWritten, 200: ProfileWritten, **ERRORS}, exclude_unset=True,
             summary="Create a profile (or match the one its identifiers belong to)")
def create_profile(request: HttpRequest, payload: ProfileCreate):
    actor = require(request, "cdp.profile.create")
    return _written(actor, _create(actor, payload, payload.kind))


class LookupParams(Schema):
    type: IdentityTypeIn | None = None
    value: str | None = Field(None, max_length=200)
    namespace: str = Field("", max_length=80)


@router.get("/profiles/lookup", response={200: ProfileDetail, **ERRORS}, exclude_unset=True,
            summary="Find the profile holding an exact identifier (blind index); none given: nothing is found")
def lookup_profile(request: HttpRequest, params: Query[LookupParams]):
    actor = require(request, "cdp.profile.read")
    profile = selectors.lookup(actor, type=params.type or "", value=params.value or "", namespace=params.namespace)
    return presenters.profile_detail_data(actor, selectors.profile_meta(actor), profile)


@router.get("/profiles/search", response={200: SearchOut, **ERRORS}, exclude_unset=True,
            summary="Search by exact phone, email or id, else fuzzily by name")
def search_profiles(request: HttpRequest, q: str = Query("", max_length=100),
                    limit: int = Query(20, ge=1, le=50)):
    actor = require(request, "cdp.profile.read")
    match, found = selectors.search_profiles(actor, q, limit=limit)
    meta = selectors.profile_meta(actor)
    return {"match": match, "items": [presenters.profile_data(actor, meta, p) for p in found]}


@router.get("/profiles/{profile_id}", response={200: ProfileDetail, **ERRORS}, exclude_unset=True,
            summary="Get a profile (identities masked)")
def get_profile(request: HttpRequest, profile_id: int):
    actor = require(request, "cdp.profile.read")
    return _detail(actor, profile_id)


@router.patch("/profiles/{profile_id}", response={200: ProfileDetail, **ERRORS}, exclude_unset=True,
              summary="Update a profile (standard and custom fields)")
def update_profile(request: HttpRequest, profile_id: int, payload: ProfileUpdate):
    actor = require(request, "cdp.profile.update")
    changes = payload.model_dump(exclude_unset=True)
    custom = changes.pop("custom", None)
    profiles.update_profile(actor=actor, profile_id=profile_id, changes=changes, custom=custom)
    return _detail(actor, profile_id)


@router.delete("/profiles/{profile_id}", response={204: None, **ERRORS}, summary="Delete a profile (soft)")
def delete_profile(request: HttpRequest, profile_id: int):
    actor = require(request, "cdp.profile.delete")
    profiles.delete_profile(actor=actor, profile_id=profile_id)
    return Status(204, None)


@router.put("/profiles/{profile_id}/owner", response={200: ProfileDetail, **ERRORS}, exclude_unset=True,
            summary="Assign the profile's owner")
def assign_owner(request: HttpRequest, profile_id: int, payload: OwnerIn):
    actor = require(request, "cdp.profile.update")
    profiles.assign_owner(actor=actor, profile_id=profile_id, owner_id=payload.owner_id)
    return _detail(actor, profile_id)


# --- identities ----------------------------------------------------------------------------------------------

@router.get("/profiles/{profile_id}/identities", response={200: list[IdentityOut], **ERRORS},
            summary="A profile's identifiers (masked)")
def list_identities(request: HttpRequest, profile_id: int):
    actor = require(request, "cdp.profile.read")
    return _detail(actor, profile_id).get("identities", [])


@router.post("/profiles/{profile_id}/identities", response={201: IdentityOut, **ERRORS},
             summary="Add an identifier to a profile")
def add_identity(request: HttpRequest, profile_id: int, payload: IdentifierIn):
    actor = require(request, "cdp.profile.update")
    row = profiles.add_identity(actor=actor, profile_id=profile_id, type=payload.type, value=payload.value,
                                namespace=payload.namespace, source="api")
    return Status(201, presenters.identity_data(row))


@router.delete("/profiles/{profile_id}/identities/{identity_id}", response={204: None, **ERRORS},
               summary="Remove an identifier from a profile")
def remove_identity(request: HttpRequest, profile_id: int, identity_id: int):
    actor = require(request, "cdp.profile.update")
    profiles.remove_identity(actor=actor, profile_id=profile_id, identity_id=identity_id)
    return Status(204, None)


@router.post("/profiles/{profile_id}/identities/{identity_id}/reveal", response={200: RevealOut, **ERRORS},
             summary="Reveal one identifier in clear (needs cdp.profile.unmask; audited with the reason)")
def reveal_identity(request: HttpRequest, profile_id: int, identity_id: int, payload: RevealIn):
    actor = require(request, "cdp.profile.unmask")
    profile = profiles.visible_profile(actor, profile_id, active=False)
    row = selectors.identity_of(actor, profile, identity_id)
    value = encrypted.reveal_for(actor, row, "value", payload.reason, ip=request.META.get("REMOTE_ADDR"))
    return {"id": row.pk, "type": row.type, "value": value}


# --- tags ------------------------------------------------------------------------------------------------------

@router.get("/tags", response={200: list[TagOut], **ERRORS}, summary="The organisation's tags")
def list_tags(request: HttpRequest):
    actor = require(request, "cdp.profile.read")
    return [presenters.tag_data(t) for t in selectors.tags_for(actor)]


@router.post("/tags", response={201: TagOut, **ERRORS}, summary="Create a tag (and its group)")
def create_tag(request: HttpRequest, payload: TagCreate):
    actor = require(request, "cdp.tag.manage")
    return Status(201, presenters.tag_data(services.create_tag(actor=actor, group=payload.group, name=payload.name)))


@router.get("/profiles/{profile_id}/tags", response={200: list[TagOut], **ERRORS}, summary="A profile's tags")
def profile_tags(request: HttpRequest, profile_id: int):
    actor = require(request, "cdp.profile.read")
    return _detail(actor, profile_id).get("tags", [])


@router.post("/profiles/{profile_id}/tags", response={200: list[TagOut], **ERRORS},
             summary="Add tags to a profile (returns all its tags)")
def add_tags(request: HttpRequest, profile_id: int, payload: TagsIn):
    actor = require(request, "cdp.profile.update")
    profiles.tag_profile(actor=actor, profile_id=profile_id, tags=[(t.group, t.name) for t in payload.tags])
    return _detail(actor, profile_id).get("tags", [])


@router.delete("/profiles/{profile_id}/tags/{tag_id}", response={204: None, **ERRORS},
               summary="Remove a tag from a profile")
def remove_tag(request: HttpRequest, profile_id: int, tag_id: int):
    actor = require(request, "cdp.profile.update")
    profiles.untag_profile(actor=actor, profile_id=profile_id, tag_id=tag_id)
    return Status(204, None)


# --- consent ---------------------------------------------------------------------------------------------------

@router.get("/consent-purposes", response={200: list[PurposeOut], **ERRORS}, summary="Consent purposes")
def list_purposes(request: HttpRequest):
    actor = require(request, "cdp.profile.read")
    return [{"key": p.key, "label": p.label, "channels": p.channels, "is_sensitive": p.is_sensitive,
             "notice_version": p.notice_version} for p in selectors.consent_purposes(actor)]


@router.get("/profiles/{profile_id}/consent", response={200: ConsentOut, **ERRORS},
            summary="Consent now (per purpose and channel) and the ledger, newest first")
def profile_consent(request: HttpRequest, profile_id: int):
    actor = require(request, "cdp.profile.read")
    profile = profiles.visible_profile(actor, profile_id, active=False)
    return {"status": [presenters.consent_state_data(s) for s in selectors.consent_status(actor, profile)],
            "history": [presenters.consent_record_data(r) for r in selectors.consent_history(actor, profile)]}


@router.post("/profiles/{profile_id}/consent", response={201: ConsentRecordOut, **ERRORS},
             summary="Record a consent grant or withdrawal")
def record_consent(request: HttpRequest, profile_id: int, payload: ConsentIn):
    actor = require(request, "cdp.consent.manage")
    rec = services.record_consent(actor=actor, profile_id=profile_id, **payload.model_dump())
    return Status(201, presenters.consent_record_data(rec))


# --- lifecycle -------------------------------------------------------------------------------------------------

@router.get("/lifecycle-stages", response={200: list[StageOut], **ERRORS}, summary="The lifecycle stages, in order")
def list_stages(request: HttpRequest):
    actor = require(request, "cdp.profile.read")
    return [presenters.stage_data(d) for d in selectors.stages(actor)]


@router.put("/lifecycle-stages", response={200: list[StageOut], **ERRORS},
            summary="Rename, reorder, add or drop lifecycle stages (the whole list, in order)")
def configure_stages(request: HttpRequest, payload: StagesIn):
    actor = require(request, "cdp.lifecycle.manage")
    done = services.configure_stages(actor=actor, stages=[s.model_dump() for s in payload.stages])
    return [presenters.stage_data(d) for d in done]


def _lifecycle(actor, profile_id) -> dict:
    profile = profiles.visible_profile(actor, profile_id, active=False)
    return {"stage": profile.lifecycle_stage, "changed_at": profile.lifecycle_changed_at,
            "history": [presenters.transition_data(t) for t in selectors.lifecycle_history(actor, profile)]}


@router.get("/profiles/{profile_id}/lifecycle", response={200: LifecycleOut, **ERRORS},
            summary="The profile's stage and its history (entry and exit times)")
def profile_lifecycle(request: HttpRequest, profile_id: int):
    actor = require(request, "cdp.profile.read")
    return _lifecycle(actor, profile_id)


@router.put("/profiles/{profile_id}/lifecycle", response={200: LifecycleOut, **ERRORS},
            summary="Move the profile to a lifecycle stage")
def set_stage(request: HttpRequest, profile_id: int, payload: StageIn):
    actor = require(request, "cdp.profile.update")
    services.set_lifecycle_stage(actor=actor, profile_id=profile_id, stage=payload.stage)
    return _lifecycle(actor, profile_id)


# --- timeline --------------------------------------------------------------------------------------------------

@router.get("/profiles/{profile_id}/timeline", response={200: TimelinePage, **ERRORS},
            summary="The profile's timeline, newest first")
def timeline(request: HttpRequest, profile_id: int, cursor: str | None = Query(None, max_length=500),
             limit: int = Query(20, ge=1, le=100)):
    actor = require(request, "cdp.profile.read")
    profile = profiles.visible_profile(actor, profile_id, active=False)
    page = selectors.timeline_page(actor, profile, cursor=cursor, limit=limit)
    return {"items": [presenters.timeline_data(e, actor) for e in page.items], "next_cursor": page.next_cursor}


# --- accounts --------------------------------------------------------------------------------------------------

@router.get("/accounts", response={200: ProfilePage, **ERRORS}, exclude_unset=True, summary="List company accounts")
def list_accounts(request: HttpRequest, params: Query[ListParams]):
    actor = require(request, "cdp.profile.read")
    return _page(request, actor, params, kind="company")


@router.post("/accounts", response={201: ProfileWritten, 200: ProfileWritten, **ERRORS}, exclude_unset=True,
             summary="Create a company account (or match the one its identifiers belong to)")
def create_account(request: HttpRequest, payload: AccountCreate):
    actor = require(request, "cdp.profile.create")
    return _written(actor, _create(actor, payload, "company"))


@router.get("/accounts/{account_id}/contacts", response={200: ProfilePage, **ERRORS}, exclude_unset=True,
            summary="The people of a company account (link one with PATCH /profiles/{id} account_id)")
def account_contacts(request: HttpRequest, account_id: int, cursor: str | None = Query(None, max_length=2000),
                     limit: int = Query(50, ge=1, le=200)):
    actor = require(request, "cdp.profile.read")
    account = selectors.account_of(actor, account_id)
    meta = selectors.profile_meta(actor)
    page = paginate(selectors.contacts_of(actor, account), order=["-id"], cursor=cursor, limit=limit)
    return {"items": [presenters.profile_data(actor, meta, p) for p in page.items], "next_cursor": page.next_cursor}


# --- merges ----------------------------------------------------------------------------------------------------

@router.get("/merge-reviews", response={200: ReviewPage, **ERRORS}, summary="The merge review queue")
def list_reviews(request: HttpRequest, status: str | None = Query("pending", max_length=10),
                 cursor: str | None = Query(None, max_length=500), limit: int = Query(50, ge=1, le=200)):
    actor = require(request, "cdp.profile.read")
    page = paginate(selectors.merge_reviews(actor, status=status or None), order=["-id"], cursor=cursor, limit=limit)
    return {"items": [presenters.review_data(r) for r in selectors.reviews_in_scope(actor, page.items)],
            "next_cursor": page.next_cursor}


@router.post("/merge-reviews/{review_id}/approve", response={200: ReviewOut, **ERRORS},
             summary="Approve: merge the review's profiles into the oldest")
def approve_review(request: HttpRequest, review_id: int):
    actor = require(request, "cdp.profile.merge")
    return presenters.review_data(services.approve_review(actor=actor, review_id=review_id))


@router.post("/merge-reviews/{review_id}/reject", response={200: ReviewOut, **ERRORS},
             summary="Reject: keep the profiles apart")
def reject_review(request: HttpRequest, review_id: int):
    actor = require(request, "cdp.profile.merge")
    return presenters.review_data(services.reject_review(actor=actor, review_id=review_id))


@router.get("/merges", response={200: MergePage, **ERRORS}, summary="The merge log, newest first")
def list_merges(request: HttpRequest, cursor: str | None = Query(None, max_length=500),
                limit: int = Query(50, ge=1, le=200)):
    actor = require(request, "cdp.profile.read")
    page = paginate(selectors.merge_logs(actor), order=["-id"], cursor=cursor, limit=limit)
    return {"items": [presenters.merge_data(m) for m in page.items], "next_cursor": page.next_cursor}


@router.post("/merges/{merge_id}/unmerge", response={200: MergeOut, **ERRORS},
             summary="Undo a merge: restore both profiles")
def unmerge(request: HttpRequest, merge_id: int):
    actor = require(request, "cdp.profile.merge")
    log = services.undo_merge(actor=actor, merge_id=merge_id)
    return presenters.merge_data(selectors.merge_logs(actor).get(pk=log.pk))
