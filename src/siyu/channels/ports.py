"""The channel port: what every channel (WeCom, official account, later email and SMS) offers the rest of Siyu.

Other contexts import only this module, ``channels.errors`` and ``channels.fake`` (in tests); never a channel
package. They ask the ``registry`` for an adapter by channel key and talk to it in the small value objects below.

Promises shared by every adapter:

* **Idempotency.** Every send takes an ``idempotency_key`` chosen by the caller (e.g. ``"broadcast:42:profile:7"``).
  Calling again with the same key and the same request returns the first result and sends nothing new, so a job
  may be retried freely. The same key with a different request raises ``IdempotencyConflict``.
* **Validation before sending.** A request that breaks a documented channel limit raises
  ``ChannelValidationError`` (or ``UnsupportedContent``) and nothing is sent.
* **Typed failures.** Whole-request failures raise ``channels.errors`` types (``ChannelUnavailable`` and
  ``ChannelRateLimited`` are retryable with the same key; ``ChannelConfigError`` needs an administrator;
  ``ChannelRejected`` is final). A failure of *one* recipient is not an exception: it is that recipient's status
  in the result.
* **No secrets** in results, exceptions or logs.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar

from siyu.channels.errors import ChannelValidationError, UnsupportedContent

# --- message content ------------------------------------------------------------------------------------


class ContentKind(enum.StrEnum):
    TEXT = "text"
    IMAGE = "image"
    LINK = "link"
    MINIPROGRAM = "miniprogram"


@dataclass(frozen=True)
class Image:
    """An image by the channel's media id, or by a public URL the adapter uploads first."""

    media_id: str = ""
    url: str = ""
    kind: ClassVar[ContentKind] = ContentKind.IMAGE

    def __post_init__(self):
        if bool(self.media_id) == bool(self.url):
            raise ChannelValidationError(
                "an image needs exactly one of media_id or url", fields={"image": ["one"]}
            )


@dataclass(frozen=True)
class Link:
    title: str
    url: str
    description: str = ""
    picture_url: str = ""
    kind: ClassVar[ContentKind] = ContentKind.LINK

    def __post_init__(self):
        if not self.title or not self.url:
            raise ChannelValidationError("a link needs a title and a url", fields={"link": ["required"]})


@dataclass(frozen=True)
class MiniProgram:
    title: str
    appid: str
    page: str
    picture_media_id: str = ""
    kind: ClassVar[ContentKind] = ContentKind.MINIPROGRAM

    def __post_init__(self):
        if not self.title or not self.appid or not self.page:
            raise ChannelValidationError(
                "a mini-program needs a title, an appid and a page", fields={"miniprogram": ["required"]}
            )


Attachment = Image | Link | MiniProgram


@dataclass(frozen=True)
class MessageContent:
    """What is sent: optional text plus attachments, as WeCom welcome messages and broadcasts allow."""

    text: str = ""
    attachments: tuple[Attachment, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "attachments", tuple(self.attachments))
        if not self.text and not self.attachments:
            raise ChannelValidationError(
                "a message needs text or an attachment", fields={"content": ["empty"]}
            )

    @property
    def kinds(self) -> frozenset[ContentKind]:
        kinds = {a.kind for a in self.attachments}
        if self.text:
            kinds.add(ContentKind.TEXT)
        return frozenset(kinds)


# --- recipients and results -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipient:
    """One person on a channel.

    ``address`` is the channel's id for the person (WeCom ``external_userid``, official-account ``openid``, an
    e-mail address, a phone number). ``sender`` is the employee the message goes through where the channel needs
    one (the WeCom follow user's ``userid``). ``ref`` is the caller's own reference (e.g. a profile id), echoed back
    in results so callers need no lookup table.
    """

    address: str
    sender: str = ""
    ref: str = ""


@dataclass(frozen=True)
class GroupTarget:
    """A group chat (WeCom customer group ``chat_id``) and, where needed, its owner who sends."""

    chat_id: str
    sender: str = ""


class SendStatus(enum.StrEnum):
    ACCEPTED = "accepted"  # handed to the channel; delivery is confirmed later (WeCom broadcasts wait for the employee)
    SENT = "sent"  # the channel confirmed delivery
    FAILED = "failed"  # final failure for this recipient (``code`` says why)
    UNREACHABLE = "unreachable"  # not a friend / unsubscribed / blocked: do not retry through this channel
    SKIPPED = "skipped"  # not attempted (e.g. the channel's per-customer cap); may be retried another day


@dataclass(frozen=True)
class RecipientResult:
    recipient: Recipient | GroupTarget
    status: SendStatus
    code: str = ""  # the channel's own code (e.g. WeCom errcode), for display and support
    channel_message_id: str = ""


@dataclass(frozen=True)
class SendResult:
    idempotency_key: str
    results: tuple[RecipientResult, ...]
    channel_message_ids: tuple[str, ...] = ()  # e.g. one WeCom msgid per sending employee

    def with_status(self, *statuses: SendStatus) -> tuple[RecipientResult, ...]:
        return tuple(r for r in self.results if r.status in statuses)

    @property
    def all_accepted(self) -> bool:
        return all(r.status in (SendStatus.ACCEPTED, SendStatus.SENT) for r in self.results)


# --- contacts and tags ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FollowRelation:
    """A contact's relation with one employee (WeCom follow user)."""

    employee_id: str
    remark: str = ""
    added_at: datetime | None = None
    add_way: int | None = None
    state: str = ""
    tag_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Contact:
    address: str  # external_userid / openid
    name: str = ""
    unionid: str = ""
    avatar_url: str = ""
    follows: tuple[FollowRelation, ...] = ()
    raw: Mapping[str, object] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class ContactPage:
    contacts: tuple[Contact, ...]
    next_cursor: str | None = None  # opaque; None when the sync is complete


@dataclass(frozen=True)
class ChannelTag:
    tag_id: str
    name: str
    order: int = 0


@dataclass(frozen=True)
class ChannelTagGroup:
    group_id: str
    name: str
    order: int = 0
    tags: tuple[ChannelTag, ...] = ()


@dataclass(frozen=True)
class Capabilities:
    """What an adapter can do; callers check before offering a feature, adapters enforce it."""

    channel: str
    content_kinds: frozenset[ContentKind]
    direct_message: bool = False
    group_message: bool = False
    broadcast: bool = False
    contact_sync: bool = False
    tag_sync: bool = False
    max_attachments: int = 0
    max_text_bytes: int | None = None
    max_broadcast_recipients: int | None = None


# --- the port -------------------------------------------------------------------------------------------


class ChannelAdapter(abc.ABC):
    """One channel account (a WeCom corp, an official account, a mail sender) behind one interface."""

    key: ClassVar[str]

    @abc.abstractmethod
    def capabilities(self) -> Capabilities:
        """What this adapter supports; constant for the adapter's lifetime."""

    @abc.abstractmethod
    def send_direct(
        self, *, idempotency_key: str, recipient: Recipient, content: MessageContent
    ) -> SendResult:
        """Send one message to one person.

        The result has exactly one ``RecipientResult``. Raises ``UnsupportedContent`` for a kind not in
        ``capabilities().content_kinds`` and the retryable/config errors described in the module docstring.
        """

    @abc.abstractmethod
    def send_group(self, *, idempotency_key: str, group: GroupTarget, content: MessageContent) -> SendResult:
        """Send one message into one group chat; one ``RecipientResult`` for the group."""

    @abc.abstractmethod
    def broadcast(
        self, *, idempotency_key: str, recipients: Sequence[Recipient], content: MessageContent
    ) -> SendResult:
        """Mass-send the same content to many people (WeCom: one ``add_msg_template`` task per sender).

        Returns one ``RecipientResult`` per recipient, in order. Consent and frequency caps are the caller's job
        (the CDP consent ledger); channel-side limits (e.g. a customer's monthly receive cap) show as statuses.
        """

    @abc.abstractmethod
    def sync_contacts(self, *, cursor: str | None = None) -> ContactPage:
        """One page of the channel's contacts; call again with ``next_cursor`` until it is ``None``.

        Pages are read-only and may be fetched again: a sync interrupted at any page can resume from its cursor.
        """

    @abc.abstractmethod
    def sync_tags(self) -> tuple[ChannelTagGroup, ...]:
        """The channel's tag groups and tags as they are now (WeCom corp tags)."""

    # shared by implementations
    def check_content(self, content: MessageContent) -> None:
        """Raise ``UnsupportedContent`` / ``ChannelValidationError`` when ``content`` breaks the capabilities."""
        caps = self.capabilities()
        missing = content.kinds - caps.content_kinds
        if missing:
            names = ", ".join(sorted(missing))
            raise UnsupportedContent(
                f"{caps.channel} cannot send {names}", fields={"content": sorted(missing)}
            )
        if len(content.attachments) > caps.max_attachments:
            raise ChannelValidationError(
                f"at most {caps.max_attachments} attachments", fields={"attachments": ["too_many"]}
            )
        if caps.max_text_bytes is not None and len(content.text.encode("utf-8")) > caps.max_text_bytes:
            raise ChannelValidationError(
                f"text longer than {caps.max_text_bytes} bytes", fields={"text": ["too_long"]}
            )


# --- registry -------------------------------------------------------------------------------------------

AdapterFactory = Callable[..., ChannelAdapter]


class AdapterRegistry:
    """Channel key → factory that builds the adapter for one organisation's account.

    Factories are called as ``factory(org_id=…, account=…)``; ``account`` picks one of several connected accounts
    of that channel (e.g. a WeCom corp id) and is ``None`` for the organisation's default.
    """

    def __init__(self) -> None:
        self._factories: dict[str, AdapterFactory] = {}

    def register(self, channel: str, factory: AdapterFactory, *, replace: bool = False) -> None:
        if channel in self._factories and not replace:
            raise ValueError(f"channel {channel!r} is already registered")
        self._factories[channel] = factory

    def unregister(self, channel: str) -> None:
        self._factories.pop(channel, None)

    def channels(self) -> tuple[str, ...]:
        return tuple(sorted(self._factories))

    def adapter(self, channel: str, *, org_id: int, account: str | None = None) -> ChannelAdapter:
        try:
            factory = self._factories[channel]
        except KeyError:
            raise LookupError(f"no channel adapter registered for {channel!r}") from None
        return factory(org_id=org_id, account=account)

    @contextmanager
    def override(self, channel: str, adapter: ChannelAdapter) -> Iterator[ChannelAdapter]:
        """Serve ``adapter`` for ``channel`` inside the block (tests of other contexts)."""
        previous = self._factories.get(channel)
        self._factories[channel] = lambda **_: adapter
        try:
            yield adapter
        finally:
            if previous is None:
                self._factories.pop(channel, None)
            else:
                self._factories[channel] = previous


registry = AdapterRegistry()
