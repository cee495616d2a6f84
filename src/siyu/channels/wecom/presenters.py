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
