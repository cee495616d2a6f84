"""WXBizMsgCrypt against every vector of shared/docs/wecom-protocol.md §1.10.

For each vector: (a) the signature recomputes, (b) the ciphertext decrypts to the published plaintext with the
expected receive id, (c) re-encrypting with the recovered 16-byte random prefix is byte-identical.
"""

import pytest

from siyu.channels import wxcrypto
from siyu.channels.errors import ReceiveIdMismatch, SignatureInvalid
from siyu.channels.wxcrypto import WXBizMsgCrypt

# --- long strings copied from the protocol document ---

W7_ENCRYPT = "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0="

W7_ENVELOPE_TEMPLATE = "<xml><ToUserName><![CDATA[wx49f0ab532d5d035a]]></ToUserName>\n<Encrypt><![CDATA[..]]></Encrypt>\n<AgentID><![CDATA[1]]></AgentID>\n</xml>"

W7_PLAIN = "<xml><ToUserName><![CDATA[wx49f0ab532d5d035a]]></ToUserName>\n<FromUserName><![CDATA[messense]]></FromUserName>\n<CreateTime>1411525903</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n<MsgId>4363689963896700987</MsgId>\n<AgentID>1</AgentID>\n</xml>"

W8_REPLY = "<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n<ToUserName><![CDATA[messense]]></ToUserName>\n<AgentID>1</AgentID>\n<CreateTime>1411525903</CreateTime>\n</xml>"

W8_ENCRYPT = "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGsL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3"

M1_ENCRYPT = "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="

M2_PLAIN = "<xml><ToUserName><![CDATA[oia2Tj我是中文jewbmiOUlr6X-1crbLOvLw]]></ToUserName><FromUserName><![CDATA[gh_7f083739789a]]></FromUserName><CreateTime>1407743423</CreateTime><MsgType><![CDATA[video]]></MsgType><Video><MediaId><![CDATA[eYJ1MbwPRJtOvIEabaxHs7TX2D-HV71s79GUxqdUkjm6Gs2Ed1KF3ulAOA9H1xG0]]></MediaId><Title><![CDATA[testCallBackReplyVideo]]></Title><Description><![CDATA[testCallBackReplyVideo]]></Description></Video></xml>"

M2_ENCRYPT = "jn1L23DB+6ELqJ+6bruv23M2GmYfkv0xBh2h+XTBOKVKcgDFHle6gqcZ1cZrk3e1qjPQ1F4RsLWzQRG9udbKWesxlkupqcEcW7ZQweImX9+wLMa0GaUzpkycA8+IamDBxn5loLgZpnS7fVAbExOkK5DYHBmv5tptA9tklE/fTIILHR8HLXa5nQvFb3tYPKAlHF3rtTeayNf0QuM+UW/wM9enGIDIJHF7CLHiDNAYxr+r+OrJCmPQyTy8cVWlu9iSvOHPT/77bZqJucQHQ04sq7KZI27OcqpQNSto2OdHCoTccjggX5Z9Mma0nMJBU+jLKJ38YB1fBIz+vBzsYjrTmFQ44YfeEuZ+xRTQwr92vhA9OxchWVINGC50qE/6lmkwWTwGX9wtQpsJKhP+oS7rvTY8+VdzETdfakjkwQ5/Xka042OlUb1/slTwo4RscuQ+RdxSGvDahxAJ6+EAjLt9d8igHngxIbf6YyqqROxuxqIeIch3CssH/LqRs+iAcILvApYZckqmA7FNERspKA5f8GoJ9sv8xmGvZ9Yrf57cExWtnX8aCMMaBropU/1k+hKP5LVdzbWCG0hGwx/dQudYR/eXp3P0XxjlFiy+9DMlaFExWUZQDajPkdPrEeOwofJb"

M3_BODY = "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName><CreateTime>1409735668</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[abcdteT]]></Content><MsgId>6054768590064713728</MsgId><Encrypt><![CDATA[hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=]]></Encrypt></xml>"

M3_PLAIN = "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\n<FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>\n<CreateTime>1409735668</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[abcdteT]]></Content>\n<MsgId>6054768590064713728</MsgId>\n</xml>"

M4_ENCRYPT = "mfBCs65c67CeJw22u4VT2TD73q5H06+ocrAIxswCaeZ/d/Lw0msSZFHY0teqgSYiI1zR2gD2DKrB3TIrmX/liNSDrGqS8jSI/WPeKB5VPr7Ezr7gomZAyGCwJSgT1TRFWPfONGJMxuj2nk4faTuspAuVIFQ6SHwZuJBZC7mcJp7Cgr9cUhATQWDbOPaE7ukZBTV2YqyzH+UI2AK+J1S47cE79k1RX8t0hcTz/O0hlK8DGXKnvYv88qKQcI7z4iaajqHfRVZKBNyOODabs+It+ZfM3dWTeFcPgDbGtIEnpt/EDtuuA/zMvtkaKdHdswPnVZQ+xdwbYr3ldGvfT8HlEYEgkgKaThxTFobVlwzu2ZkXCjicbP3xdr15Iq48ObgzPpqYuZ3IEoyggZDKClquk0u0orMck4GTF/XyE8yGzc4="

M4_PLAIN = "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\n<FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>\n<CreateTime>1410349438</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[abcdteT]]></Content>\n<MsgId>6057404712141979648</MsgId>\n</xml>"

D1_ENCRYPT = "sKqRbbiSUnDhFHOvPjtUMWMrQAJhTdrAzcYfsUqHS1lL6u0HK4ObevB8lwPWhyVIyIsyD4yrqmdEOB9USSinCpoa8fbiezb5znByuOyvWlOJDcAJOPq1iLxGZErFmfTC"

# --- configurations ---
WECHATPY = dict(
    token="123456",
    encoding_aes_key="kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR",
    receive_id="wx49f0ab532d5d035a",
)
OA_JAVA = dict(
    token="pamtest",
    encoding_aes_key="abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
    receive_id="wxb11529c136998cb6",
)
OA_SAMPLE = dict(
    token="spamtest",
    encoding_aes_key="abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
    receive_id="wx2c2769f8efd9abc2",
)
D1 = dict(
    token="QDG6eK",
    encoding_aes_key="jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
    receive_id="wx5823bf96d3bd56c7",
)


def reencrypts_identically(crypt: WXBizMsgCrypt, encrypt: str) -> None:
    plain = crypt.decrypt_unchecked(encrypt)
    assert crypt.encrypt(plain.message, random=plain.random) == encrypt


def test_w6_url_verification_answers_the_decrypted_echostr():
    crypt = WXBizMsgCrypt(**WECHATPY)
    echostr = "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q=="
    assert crypt.signature("1411443780", "437374425", echostr) == "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96"
    reply = crypt.verify_url(
        msg_signature="dd6b9c95b495b3f7e2901bfbc76c664930ffdb96",
        timestamp="1411443780",
        nonce="437374425",
        echostr=echostr,
    )
    assert reply == "5927782489442352469"
    assert crypt.decrypt_unchecked(echostr).message == b"5927782489442352469"  # msg_len 19
    reencrypts_identically(crypt, echostr)


def test_w6_negative_nonce_fails_with_invalid_signature():
    crypt = WXBizMsgCrypt(**WECHATPY)
    echostr = "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q=="
    with pytest.raises(SignatureInvalid) as err:
        crypt.verify_url(
            msg_signature="dd6b9c95b495b3f7e2901bfbc76c664930ffdb96",
            timestamp="1411443780",
            nonce="437374424",
            echostr=echostr,
        )
    assert err.value.code == -40001


def test_w7_post_xml_decrypts_to_the_published_message():
    crypt = WXBizMsgCrypt(**WECHATPY)
    body = W7_ENVELOPE_TEMPLATE.replace("[..]", f"[{W7_ENCRYPT}]")
    assert (
        crypt.signature("1411525903", "461056294", W7_ENCRYPT) == "74d92dfeb87ba7c714f89d98870ae5eb62dff26d"
    )
    message = crypt.decrypt_message(
        msg_signature="74d92dfeb87ba7c714f89d98870ae5eb62dff26d",
        timestamp="1411525903",
        nonce="461056294",
        body=body.encode(),
    )
    assert message == W7_PLAIN.encode()
    assert len(message) == 281
    envelope = wxcrypto.parse_envelope(body)
    assert (envelope.to_user_name, envelope.agent_id) == ("wx49f0ab532d5d035a", "1")
    reencrypts_identically(crypt, W7_ENCRYPT)  # pad length 1


def test_w8_encrypted_reply_is_byte_exact():
    crypt = WXBizMsgCrypt(**WECHATPY)
    assert crypt.encrypt(W8_REPLY, random=b"1234567890123456") == W8_ENCRYPT
    reply = crypt.encrypt_reply(
        W8_REPLY, nonce="461056294", timestamp="1411525903", random=b"1234567890123456"
    )
    assert reply == (
        "<xml>\n"
        f"<Encrypt><![CDATA[{W8_ENCRYPT}]]></Encrypt>\n"
        "<MsgSignature><![CDATA[407518b7649e86ef23978113f92d27afa9296533]]></MsgSignature>\n"
        "<TimeStamp>1411525903</TimeStamp>\n"
        "<Nonce><![CDATA[461056294]]></Nonce>\n"
        "</xml>"
    )
    # and the reply verifies and decrypts like an incoming message
    assert (
        crypt.decrypt_message(
            msg_signature="407518b7649e86ef23978113f92d27afa9296533",
            timestamp="1411525903",
            nonce="461056294",
            body=reply,
        )
        == W8_REPLY.encode()
    )


@pytest.mark.parametrize(
    ("plaintext", "expected"), [("我是中文abcd123", M1_ENCRYPT), (M2_PLAIN, M2_ENCRYPT)], ids=["M1", "M2"]
)
def test_m1_m2_official_account_encrypt_with_fixed_random(plaintext, expected):
    crypt = WXBizMsgCrypt(**OA_JAVA)
    assert crypt.encrypt(plaintext, random=b"aaaabbbbccccdddd") == expected
    assert crypt.decrypt(expected) == plaintext.encode("utf-8")


def test_m1_length_counts_utf8_bytes_not_characters():
    plain = WXBizMsgCrypt(**OA_JAVA).decrypt_unchecked(M1_ENCRYPT)
    assert len(plain.message) == 19 and len(plain.message.decode()) == 11
    assert plain.receive_id == b"wxb11529c136998cb6"


def test_m3_compat_mode_body_decrypts_from_encrypt_only():
    crypt = WXBizMsgCrypt(**OA_SAMPLE)
    message = crypt.decrypt_message(
        msg_signature="5d197aaffba7e9b25a30732f161a50dee96bd5fa",
        timestamp="1409735669",
        nonce="1320562132",
        body=M3_BODY,
    )
    assert message == M3_PLAIN.encode()
    assert len(message) == 280
    encrypt = wxcrypto.parse_envelope(M3_BODY).encrypt
    assert crypt.decrypt_unchecked(encrypt).random == b"89465c840c5f116f"
    reencrypts_identically(crypt, encrypt)
    # the three-value signature of the same request
    assert (
        wxcrypto.oa_signature(token="spamtest", timestamp="1409735669", nonce="1320562132")
        == "16120ec1b8dbb870f510d87ce6bc2463eae6ca1a"
    )


def test_m4_official_account_post_decrypt():
    crypt = WXBizMsgCrypt(**OA_SAMPLE)
    body = (
        f"<xml><ToUserName><![CDATA[toUser]]></ToUserName><Encrypt><![CDATA[{M4_ENCRYPT}]]></Encrypt></xml>"
    )
    message = crypt.decrypt_message(
        msg_signature="003fee52ecc56afb46c00b5c7721be87860ce785",
        timestamp="1410349438",
        nonce="298025754",
        body=body,
    )
    assert message == M4_PLAIN.encode()
    assert crypt.decrypt_unchecked(M4_ENCRYPT).random == b"78b55f1d91440c6b"
    reencrypts_identically(crypt, M4_ENCRYPT)


def test_m3_m4_refuse_another_app_id():
    crypt = WXBizMsgCrypt(**{**OA_SAMPLE, "receive_id": "wxb11529c136998cb6"})
    with pytest.raises(ReceiveIdMismatch) as err:
        crypt.decrypt(M4_ENCRYPT)
    assert err.value.code == -40005


@pytest.mark.parametrize(
    ("token", "timestamp", "nonce", "signature"),
    [
        ("AAAAA", "1714037059", "486452656", "899cf89e464efb63f54ddac96b0a0a235f53aa78"),
        ("AAAAA", "1714036504", "1514711492", "f464b24fc39322e44b38aa78f5edd27bd1441696"),
        ("test", "1410685589", "test", "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff"),
    ],
    ids=["S1", "S2", "S3"],
)
def test_s1_s3_three_value_signature(token, timestamp, nonce, signature):
    assert wxcrypto.oa_signature(token=token, timestamp=timestamp, nonce=nonce) == signature
    wxcrypto.verify_oa_signature(token=token, timestamp=timestamp, nonce=nonce, signature=signature)


def test_s2_url_verification_echoes_echostr_unchanged():
    assert (
        wxcrypto.verify_oa_url(
            token="AAAAA",
            timestamp="1714036504",
            nonce="1514711492",
            signature="f464b24fc39322e44b38aa78f5edd27bd1441696",
            echostr="4375120948345356249",
        )
        == "4375120948345356249"
    )


def test_s3_negative_last_digit_fails():
    with pytest.raises(SignatureInvalid):
        wxcrypto.verify_oa_signature(
            token="test",
            timestamp="1410685589",
            nonce="test",
            signature="f21891de399b4e33a1a93c9a7b8a8fffb5a443fe",
        )


def test_d1_full_pad_block_of_32():
    crypt = WXBizMsgCrypt(**D1)
    message = "<xml>pad-32-boundary</xml>"
    assert crypt.encrypt(message, random=b"0123456789abcdef") == D1_ENCRYPT
    assert (
        crypt.signature("1700000000", "123456789", D1_ENCRYPT) == "d8bc709866a2e1bdd4b757b38f760c17d63e4446"
    )
    body = f"<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName><Encrypt><![CDATA[{D1_ENCRYPT}]]></Encrypt></xml>"
    assert (
        crypt.decrypt_message(
            msg_signature="d8bc709866a2e1bdd4b757b38f760c17d63e4446",
            timestamp="1700000000",
            nonce="123456789",
            body=body,
        )
        == message.encode()
    )


def test_all_a_key_decodes_to_zero_bytes():
    assert wxcrypto.decode_aes_key("A" * 43) == bytes(32)
