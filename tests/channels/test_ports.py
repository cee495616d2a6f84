"""The channel port's value objects, registry and the fake adapter other contexts test with."""

import pytest

from siyu.channels.errors import (
    ChannelUnavailable,
    ChannelValidationError,
    IdempotencyConflict,
    UnsupportedContent,
)
from siyu.channels.fake import FakeChannelAdapter
from siyu.channels.ports import (
    AdapterRegistry,
    Capabilities,
    ChannelAdapter,
    ChannelTag,
    ChannelTagGroup,
    Contact,
    ContentKind,
    GroupTarget,
    Image,
    Link,
    MessageContent,
    MiniProgram,
    Recipient,
    SendStatus,
    registry,
)
from siyu.kernel.errors import ValidationFailed

HELLO = MessageContent(text="你好")


# --- value objects --------------------------------------------------------------------------------------


def test_content_kinds():
    content = MessageContent(
        text="hi",
        attachments=[
            Link(title="t", url="https://example.com"),
            MiniProgram(title="m", appid="wx1", page="p"),
        ],
    )
    assert content.attachments == (Link(title="t", url="https://example.com"), MiniProgram("m", "wx1", "p"))
    assert content.kinds == {ContentKind.TEXT, ContentKind.LINK, ContentKind.MINIPROGRAM}
    assert MessageContent(attachments=(Image(media_id="m1"),)).kinds == {ContentKind.IMAGE}


@pytest.mark.parametrize(
    "build",
    [
        lambda: MessageContent(),
        lambda: Image(),
        lambda: Image(media_id="a", url="https://x"),
        lambda: Link(title="", url="https://x"),
        lambda: MiniProgram(title="t", appid="", page="p"),
    ],
)
def test_invalid_content_is_a_422_validation_error(build):
    with pytest.raises(ChannelValidationError) as err:
        build()
    assert isinstance(err.value, ValidationFailed) and err.value.status == 422 and err.value.fields


def test_fields_of_a_validation_error():
    with pytest.raises(ChannelValidationError) as err:
        MessageContent()
    assert err.value.fields == {"content": ["empty"]}
    assert err.value.code == "validation_failed"


def test_adapter_must_implement_the_whole_port():
    class Half(ChannelAdapter):
        key = "half"

        def capabilities(self):  # pragma: no cover - never instantiated
            raise NotImplementedError

    with pytest.raises(TypeError):
        Half()


# --- capabilities are enforced --------------------------------------------------------------------------


def text_only(channel="sms"):
    return Capabilities(
        channel=channel,
        content_kinds=frozenset({ContentKind.TEXT}),
        direct_message=True,
        max_attachments=0,
        max_text_bytes=10,
    )


def test_unsupported_content_is_refused_and_nothing_sent():
    fake = FakeChannelAdapter(caps=text_only())
    with pytest.raises(UnsupportedContent) as err:
        fake.send_direct(
            idempotency_key="k",
            recipient=Recipient("13800000000"),
            content=MessageContent(text="x", attachments=(Image(media_id="m"),)),
        )
    assert err.value.fields == {"content": ["image"]}
    assert fake.deliveries == []


def test_text_longer_than_the_channel_allows_in_bytes():
    fake = FakeChannelAdapter(caps=text_only())
    fake.send_direct(
        idempotency_key="ok", recipient=Recipient("a"), content=MessageContent(text="1234567890")
    )
    with pytest.raises(ChannelValidationError) as err:
        fake.send_direct(
            idempotency_key="k", recipient=Recipient("a"), content=MessageContent(text="你好你好")
        )  # 12 B
    assert err.value.fields == {"text": ["too_long"]}
    assert len(fake.deliveries) == 1


def test_too_many_attachments():
    fake = FakeChannelAdapter()
    content = MessageContent(attachments=tuple(Image(media_id=str(i)) for i in range(10)))
    with pytest.raises(ChannelValidationError):
        fake.broadcast(idempotency_key="k", recipients=[Recipient("a")], content=content)
    assert fake.deliveries == []


# --- the fake keeps the promises ------------------------------------------------------------------------


def test_fake_records_sends_with_per_recipient_status():
    fake = FakeChannelAdapter(statuses={"wo2": SendStatus.UNREACHABLE})
    result = fake.broadcast(
        idempotency_key="b1",
        recipients=[
            Recipient("wo1", sender="zhangsan", ref="p1"),
            Recipient("wo2", sender="zhangsan", ref="p2"),
        ],
        content=HELLO,
    )
    assert [(r.recipient.ref, r.status) for r in result.results] == [
        ("p1", SendStatus.ACCEPTED),
        ("p2", SendStatus.UNREACHABLE),
    ]
    assert result.all_accepted is False
    assert [r.recipient.address for r in result.with_status(SendStatus.UNREACHABLE)] == ["wo2"]
    assert [t.address for t in fake.sent_to()] == ["wo1", "wo2"]
    assert fake.calls[0].method == "broadcast" and fake.calls[0].content == HELLO


def test_same_idempotency_key_sends_once_and_returns_the_first_result():
    fake = FakeChannelAdapter()
    first = fake.send_direct(idempotency_key="welcome:1", recipient=Recipient("wo1"), content=HELLO)
    again = fake.send_direct(idempotency_key="welcome:1", recipient=Recipient("wo1"), content=HELLO)
    assert again == first
    assert len(fake.deliveries) == 1 and len(fake.calls) == 2


def test_same_key_for_another_request_conflicts():
    fake = FakeChannelAdapter()
    fake.send_direct(idempotency_key="k", recipient=Recipient("wo1"), content=HELLO)
    with pytest.raises(IdempotencyConflict):
        fake.send_direct(idempotency_key="k", recipient=Recipient("wo2"), content=HELLO)
    with pytest.raises(IdempotencyConflict):
        fake.send_group(idempotency_key="k", group=GroupTarget("wr1"), content=HELLO)
    assert len(fake.deliveries) == 1


def test_a_retryable_failure_leaves_the_key_free_for_the_retry():
    fake = FakeChannelAdapter()
    fake.fail_next(ChannelUnavailable("busy"))
    with pytest.raises(ChannelUnavailable) as err:
        fake.send_group(idempotency_key="g", group=GroupTarget("wr1", sender="zhangsan"), content=HELLO)
    assert err.value.retryable is True
    assert fake.deliveries == []
    result = fake.send_group(idempotency_key="g", group=GroupTarget("wr1", sender="zhangsan"), content=HELLO)
    assert result.results[0].status == SendStatus.ACCEPTED
    assert fake.sent_to() == [GroupTarget("wr1", sender="zhangsan")]


def test_fake_contact_sync_pages_until_no_cursor():
    fake = FakeChannelAdapter(contacts=[Contact(address=f"wo{i}") for i in range(5)], page_size=2)
    seen, cursor, pages = [], None, 0
    while True:
        page = fake.sync_contacts(cursor=cursor)
        seen += [c.address for c in page.contacts]
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == ["wo0", "wo1", "wo2", "wo3", "wo4"] and pages == 3


def test_fake_tag_sync():
    groups = (ChannelTagGroup("etg1", "来源", tags=(ChannelTag("et1", "展会"),)),)
    assert FakeChannelAdapter(tag_groups=groups).sync_tags() == groups


# --- registry -------------------------------------------------------------------------------------------


def test_registry_builds_adapters_per_org_and_account():
    reg = AdapterRegistry()
    built = []

    def factory(*, org_id, account):
        built.append((org_id, account))
        return FakeChannelAdapter(channel="wecom")

    reg.register("wecom", factory)
    assert reg.channels() == ("wecom",)
    assert reg.adapter("wecom", org_id=7, account="ww1").capabilities().channel == "wecom"
    assert built == [(7, "ww1")]
    with pytest.raises(ValueError):
        reg.register("wecom", factory)
    with pytest.raises(LookupError):
        reg.adapter("sms", org_id=7)
    reg.unregister("wecom")
    assert reg.channels() == ()


def test_override_serves_the_fake_and_restores():
    fake = FakeChannelAdapter()
    assert "wecom-test" not in registry.channels()
    with registry.override("wecom-test", fake):
        assert registry.adapter("wecom-test", org_id=1) is fake
    assert "wecom-test" not in registry.channels()
