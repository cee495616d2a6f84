"""An in-memory ``ChannelAdapter`` for other contexts' tests: it records what it was asked and keeps the promises.

Use it through the registry so the code under test finds it the way production code does::

    fake = FakeChannelAdapter()
    with registry.override("wecom", fake):
        run_broadcast(...)
    assert [r.address for r in fake.sent_to()] == ["wo1", "wo2"]

Behaviour is scripted per recipient address (``statuses``), per call (``fail_next``) and for syncs
(``contacts``, ``tag_groups``, ``page_size``). It honours idempotency keys exactly as real adapters must.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from siyu.channels.errors import IdempotencyConflict
from siyu.channels.ports import (
    Capabilities,
    ChannelAdapter,
    ChannelTagGroup,
    Contact,
    ContactPage,
    ContentKind,
    GroupTarget,
    MessageContent,
    Recipient,
    RecipientResult,
    SendResult,
    SendStatus,
)


@dataclass(frozen=True)
class RecordedCall:
    method: str
    idempotency_key: str = ""
    content: MessageContent | None = None
    targets: tuple[Recipient | GroupTarget, ...] = ()
    cursor: str | None = None


@dataclass
class FakeChannelAdapter(ChannelAdapter):
    """Records every call in ``calls``; only calls that really "sent" are in ``deliveries``."""

    key = "fake"

    channel: str = "fake"
    statuses: Mapping[str, SendStatus] = field(
        default_factory=dict
    )  # address or chat_id → status (default ACCEPTED)
    contacts: Sequence[Contact] = ()
    tag_groups: Sequence[ChannelTagGroup] = ()
    page_size: int = 100
    caps: Capabilities | None = None
    calls: list[RecordedCall] = field(default_factory=list)
    deliveries: list[RecordedCall] = field(default_factory=list)
    _fail_next: list[Exception] = field(default_factory=list)
    _by_key: dict[str, tuple[RecordedCall, SendResult]] = field(default_factory=dict)

    # scripting
    def fail_next(self, *errors: Exception) -> None:
        """The next sends raise these errors, one per call, before anything is recorded as delivered."""
        self._fail_next.extend(errors)

    def sent_to(self) -> list[Recipient | GroupTarget]:
        return [target for call in self.deliveries for target in call.targets]

    # the port
    def capabilities(self) -> Capabilities:
        return self.caps or Capabilities(
            channel=self.channel,
            content_kinds=frozenset(ContentKind),
            direct_message=True,
            group_message=True,
            broadcast=True,
            contact_sync=True,
            tag_sync=True,
            max_attachments=9,
            max_text_bytes=4000,
            max_broadcast_recipients=10_000,
        )

    def send_direct(
        self, *, idempotency_key: str, recipient: Recipient, content: MessageContent
    ) -> SendResult:
        return self._send("send_direct", idempotency_key, content, (recipient,))

    def send_group(self, *, idempotency_key: str, group: GroupTarget, content: MessageContent) -> SendResult:
        return self._send("send_group", idempotency_key, content, (group,))

    def broadcast(
        self, *, idempotency_key: str, recipients: Sequence[Recipient], content: MessageContent
    ) -> SendResult:
        return self._send("broadcast", idempotency_key, content, tuple(recipients))

    def sync_contacts(self, *, cursor: str | None = None) -> ContactPage:
        self.calls.append(RecordedCall("sync_contacts", cursor=cursor))
        start = int(cursor or 0)
        end = start + self.page_size
        page = tuple(self.contacts[start:end])
        return ContactPage(contacts=page, next_cursor=str(end) if end < len(self.contacts) else None)

    def sync_tags(self) -> tuple[ChannelTagGroup, ...]:
        self.calls.append(RecordedCall("sync_tags"))
        return tuple(self.tag_groups)

    # internals
    def _send(self, method: str, key: str, content: MessageContent, targets: tuple) -> SendResult:
        call = RecordedCall(method, idempotency_key=key, content=content, targets=targets)
        self.calls.append(call)
        if key in self._by_key:
            first, result = self._by_key[key]
            if (first.method, first.content, first.targets) != (method, content, targets):
                raise IdempotencyConflict(f"idempotency key {key!r} was used for another request")
            return result
        self.check_content(content)
        if self._fail_next:
            raise self._fail_next.pop(0)
        results = []
        for target in targets:
            address = target.chat_id if isinstance(target, GroupTarget) else target.address
            status = self.statuses.get(address, SendStatus.ACCEPTED)
            results.append(
                RecipientResult(
                    recipient=target, status=status, channel_message_id=f"fake-{len(self.deliveries)}"
                )
            )
        result = SendResult(
            idempotency_key=key, results=tuple(results), channel_message_ids=(f"fake-{len(self.deliveries)}",)
        )
        self.deliveries.append(call)
        self._by_key[key] = (call, result)
        return result
