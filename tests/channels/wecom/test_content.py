"""Port content in WeCom's shape, accepted by the client's own limit checks."""

from siyu.channels.ports import ContentKind, Image, Link, MessageContent, MiniProgram
from siyu.channels.wecom import validation as v
from siyu.channels.wecom.content import CAPABILITIES, to_wecom


def test_every_content_kind_maps_to_wecom_fields():
    content = MessageContent(
        text="欢迎来到思域",
        attachments=(
            Image(media_id="MEDIA1"),
            Image(url="https://cdn.example.com/a.png"),
            Link(
                title="官网",
                url="https://example.com",
                description="看看",
                picture_url="https://example.com/p.png",
            ),
            MiniProgram(
                title="小程序", appid="wx8bd80126147dfAAA", page="/path/index", picture_media_id="MEDIA2"
            ),
        ),
    )
    text, attachments = to_wecom(content)
    assert text == {"content": "欢迎来到思域"}
    assert attachments == [
        {"msgtype": "image", "image": {"media_id": "MEDIA1"}},
        {"msgtype": "image", "image": {"pic_url": "https://cdn.example.com/a.png"}},
        {
            "msgtype": "link",
            "link": {
                "title": "官网",
                "url": "https://example.com",
                "picurl": "https://example.com/p.png",
                "desc": "看看",
            },
        },
        {
            "msgtype": "miniprogram",
            "miniprogram": {
                "title": "小程序",
                "appid": "wx8bd80126147dfAAA",
                "page": "/path/index",
                "pic_media_id": "MEDIA2",
            },
        },
    ]
    check = v.check_message(v.Check("send_welcome_msg"), text, attachments)
    assert check.errors == {}


def test_attachments_only():
    assert to_wecom(MessageContent(attachments=(Link(title="t", url="https://x"),))) == (
        None,
        [{"msgtype": "link", "link": {"title": "t", "url": "https://x"}}],
    )


def test_capabilities_match_the_documented_limits():
    assert CAPABILITIES.content_kinds == set(ContentKind)
    assert (CAPABILITIES.max_attachments, CAPABILITIES.max_text_bytes) == (9, 4000)
    assert CAPABILITIES.max_broadcast_recipients == 10_000
