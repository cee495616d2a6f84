"""Rows as the API's plain data (secrets never appear)."""

from __future__ import annotations

from typing import Any

from .corps import callback_url
from .models import Corp, ExternalContact, FollowRelation, LiveCode, SyncRun


def corp_data(corp: Corp, base_url: str | None = None) -> dict[str, Any]:
    return {"id": corp.pk, "corp_id": corp.corp_id, "name": corp.name, "api_base": corp.api_base,
            "agent_id": corp.agent_id, "has_app": bool(corp.agent_id and corp.agent_secret),
            "is_active": corp.is_active, "callback_url": callback_url(corp, base_url), "created_at": corp.created_at}


def sync_run_data(run: SyncRun) -> dict[str, Any]:
    return {f: getattr(run, f) for f in ("kind", "status", "total", "done", "added", "updated", "deleted", "error",
                                          "started_at", "finished_at")} | {"id": run.pk}


def follow_data(row: FollowRelation) -> dict[str, Any]:
    return {"userid": row.employee.userid, "employee": row.employee.name, "remark": row.remark,
            "added_at": row.added_at, "add_way": row.add_way, "state": row.state, "tag_ids": list(row.tag_ids),
            "deleted": row.deleted, "deleted_by": row.deleted_by, "live_code_id": row.live_code_id}


def contact_data(contact: ExternalContact, follows: list[FollowRelation]) -> dict[str, Any]:
    return {"id": contact.pk, "corp_id": contact.corp.corp_id, "external_userid": contact.external_userid,
            "name": contact.name, "type": contact.type, "profile_id": contact.profile_id,
            "follows": [follow_data(f) for f in follows]}


def live_code_data(code: LiveCode) -> dict[str, Any]:
    members = [{"userid": m.employee.userid, "name": m.employee.name, "weight": m.weight, "is_backup": m.is_backup}
               for m in code.members.select_related("employee").order_by("is_backup", "employee__userid")]
    return {"id": code.pk, "corp": code.corp_id, "members": members, "created_at": code.created_at,
            **{f: getattr(code, f) for f in ("name", "state", "config_id", "qr_code", "skip_verify", "schedule",
                                             "daily_cap", "tag_ids", "welcome", "channel_label", "source_label",
                                             "current_users", "is_active")}}


def group_data(g) -> dict[str, Any]:
    return {"id": g.pk, "corp": g.corp_id, "chat_id": g.chat_id, "name": g.name,
            "owner": g.owner.userid if g.owner_id else None, "status": g.status, "member_count": g.member_count,
            "external_count": g.external_count, "dismissed_at": g.dismissed_at, "synced_at": g.synced_at}


def group_code_data(c) -> dict[str, Any]:
    return {"id": c.pk, "corp": c.corp_id, "name": c.name, "state": c.state, "config_id": c.config_id,
            "qr_code": c.qr_code, "chat_ids": c.chat_ids, "current_chat_ids": c.current_chat_ids,
            "capacity": c.capacity, "auto_create_room": c.auto_create_room, "room_base_name": c.room_base_name,
            "is_active": c.is_active}


def transfer_data(t) -> dict[str, Any]:
    from .transfers import expected_takeover

    return {"id": t.pk, "corp": t.corp_id, "kind": t.kind, "handover": t.handover.userid,
            "takeover": t.takeover.userid, "external_userid": t.external_contact.external_userid,
            "status": t.status, "errcode": t.errcode, "reason": t.reason, "started_at": t.started_at,
            "expected_takeover_at": expected_takeover(t), "takeover_at": t.takeover_at}
