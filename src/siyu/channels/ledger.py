"""The stored form of a ``SendResult``, shared by the adapters' idempotency ledgers (WeCom ``SendRecord``, the
official account's ``SendRecord``): the same key with the same request returns the first result, read back from
this JSON."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from siyu.channels.errors import IdempotencyConflict
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


def once(*, records: QuerySet, create: Callable[..., object], method: str, key: str, request_hash: str,
         send: Callable[[], SendResult]) -> SendResult:  # fmt: skip
    """Send at most once per idempotency key.

    ``records`` are the account's ledger rows (a tenancy-scoped queryset with ``idempotency_key``, ``method``,
    ``request_hash`` and ``result``); ``create(**fields)`` adds one. A known key with the same request returns the
    stored result without sending; with another request it raises ``IdempotencyConflict``. The result is recorded
    after ``send`` returned, so a send that raised leaves its key free for the retry.
    """
    record = records.filter(idempotency_key=key).first()
    if record is not None:
        if (record.method, record.request_hash) != (method, request_hash):
            raise IdempotencyConflict(f"idempotency key {key!r} was used for another request")
        return result_from_json(record.result, key)
    result = send()
    try:
        with transaction.atomic():
            create(idempotency_key=key[:200], method=method, request_hash=request_hash, result=result_to_json(result))
    except IntegrityError:  # a concurrent send with the same key recorded first
        pass
    return result
