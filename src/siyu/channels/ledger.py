"""The stored form of a ``SendResult``, shared by the adapters' idempotency ledgers (WeCom ``SendRecord``, the
official account's ``SendRecord``): the same key with the same request returns the first result, read back from
this JSON."""

from __future__ import annotations

from typing import Any

from siyu.channels.ports import GroupTarget, Recipient, RecipientResult, SendResult, SendStatus


def result_to_json(result: SendResult) -> dict[str, Any]:
    rows = []
    for r in result.results:
        target = r.recipient
        if isinstance(target, GroupTarget):
            rows.append({"group": [target.chat_id, target.sender], "status": r.status.value, "code": r.code,
                         "id": r.channel_message_id})
        else:
            rows.append({"recipient": [target.address, target.sender, target.ref], "status": r.status.value,
                         "code": r.code, "id": r.channel_message_id})
    return {"results": rows, "ids": list(result.channel_message_ids)}


def result_from_json(data: dict[str, Any], key: str) -> SendResult:
    results = []
    for row in data.get("results") or ():
        target = GroupTarget(*row["group"]) if "group" in row else Recipient(*row["recipient"])
        results.append(RecipientResult(target, SendStatus(row["status"]), code=row.get("code", ""),
                                       channel_message_id=row.get("id", "")))
    return SendResult(key, tuple(results), tuple(data.get("ids") or ()))
