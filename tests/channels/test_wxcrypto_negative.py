"""Every malformed callback raises the documented error and never yields a message.

Each case signs the malformed ciphertext correctly, so the failure comes from the stage under test and not from
the signature check that would otherwise stop it first.
"""

import base64
import struct

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from siyu.channels import wxcrypto
from siyu.channels.errors import (
    CallbackCryptoError,
    DecodeBase64Error,
    DecryptAesError,
    GenReturnXmlError,
    IllegalAesKey,
    IllegalBuffer,
    ReceiveIdMismatch,
    SignatureInvalid,
    XmlParseError,
)
from siyu.channels.wxcrypto import WXBizMsgCrypt

TOKEN = "QDG6eK"
KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
CORP = "ww5823bf96d3bd56c7"
TS, NONCE = "1700000000", "123456789"


@pytest.fixture
def crypt():
    return WXBizMsgCrypt(token=TOKEN, encoding_aes_key=KEY, receive_id=CORP)


def raw_encrypt(plain: bytes) -> str:
    """AES-256-CBC of ``plain`` exactly as given (no padding added): lets a test choose a broken layout."""
    key = wxcrypto.decode_aes_key(KEY)
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(enc.update(plain) + enc.finalize()).decode()


def envelope(encrypt: str) -> str:
    return f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"


def post(crypt, encrypt: str, *, signature: str | None = None):
    sig = crypt.signature(TS, NONCE, encrypt) if signature is None else signature
    return crypt.decrypt_message(msg_signature=sig, timestamp=TS, nonce=NONCE, body=envelope(encrypt))


def get(crypt, echostr: str, *, signature: str | None = None):
    sig = crypt.signature(TS, NONCE, echostr) if signature is None else signature
    return crypt.verify_url(msg_signature=sig, timestamp=TS, nonce=NONCE, echostr=echostr)


def layout(message: bytes, receive_id: bytes = CORP.encode(), *, length: int | None = None) -> bytes:
    n = len(message) if length is None else length
    return b"R" * 16 + struct.pack(">I", n) + message + receive_id


def assert_raises(kind, code, fn, *args, **kw):
    with pytest.raises(kind) as err:
        fn(*args, **kw)
    assert err.value.code == code
    return err.value


# --- signature ------------------------------------------------------------------------------------------


def test_wrong_signature(crypt):
    good = crypt.encrypt("<xml/>")
    bad = "0" * 40
    assert_raises(SignatureInvalid, -40001, post, crypt, good, signature=bad)
    assert_raises(SignatureInvalid, -40001, get, crypt, good, signature=bad)


def test_signature_of_another_token_timestamp_or_nonce(crypt):
    encrypt = crypt.encrypt("<xml/>")
    other = WXBizMsgCrypt(token="another", encoding_aes_key=KEY, receive_id=CORP)
    assert_raises(
        SignatureInvalid, -40001, post, crypt, encrypt, signature=other.signature(TS, NONCE, encrypt)
    )
    assert_raises(
        SignatureInvalid,
        -40001,
        post,
        crypt,
        encrypt,
        signature=crypt.signature("1700000001", NONCE, encrypt),
    )
    assert_raises(
        SignatureInvalid, -40001, post, crypt, encrypt, signature=crypt.signature(TS, "123456780", encrypt)
    )


def test_tampered_ciphertext_fails_the_signature(crypt):
    encrypt = crypt.encrypt("<xml>amount=1</xml>")
    sig = crypt.signature(TS, NONCE, encrypt)
    tampered = ("B" if encrypt[0] != "B" else "C") + encrypt[1:]
    assert_raises(SignatureInvalid, -40001, post, crypt, tampered, signature=sig)


def test_empty_signature(crypt):
    assert_raises(SignatureInvalid, -40001, post, crypt, crypt.encrypt("x"), signature="")


# --- receive id -----------------------------------------------------------------------------------------


def test_wrong_receive_id(crypt):
    other = WXBizMsgCrypt(token=TOKEN, encoding_aes_key=KEY, receive_id="ww0000000000000000")
    encrypt = other.encrypt("<xml>for another corp</xml>")
    assert_raises(ReceiveIdMismatch, -40005, post, crypt, encrypt)
    assert_raises(ReceiveIdMismatch, -40005, get, crypt, encrypt)


def test_receive_id_prefix_or_suffix_is_not_enough(crypt):
    for receive_id in (CORP[:-1], CORP + "x", "", CORP.upper()):
        encrypt = raw_encrypt(wxcrypto.pkcs7_pad(layout(b"<xml/>", receive_id.encode())))
        assert_raises(ReceiveIdMismatch, -40005, post, crypt, encrypt)


def test_receive_id_mismatch_is_a_crypto_error_like_the_others(crypt):
    # wechatpy's InvalidCorpIdException is not a signature error, so handlers answered 500: ours share one base.
    assert issubclass(ReceiveIdMismatch, CallbackCryptoError)


# --- Base64 ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("encrypt", ["not base64!!", "AAAA=AAA", "AAA", "4ByGGj sVCYcvGeQ", "%2B%2F%3D"])
def test_bad_base64(crypt, encrypt):
    assert_raises(DecodeBase64Error, -40010, post, crypt, encrypt)
    assert_raises(DecodeBase64Error, -40010, get, crypt, encrypt)


# --- padding and AES blocks -----------------------------------------------------------------------------


def test_pad_byte_zero(crypt):
    plain = layout(b"<xml/>")
    plain += b"\x01" * (31 - len(plain) % 32) + b"\x00"
    assert_raises(DecryptAesError, -40007, post, crypt, raw_encrypt(plain))


@pytest.mark.parametrize("pad", [33, 64, 255])
def test_pad_byte_above_32(crypt, pad):
    plain = layout(b"<xml/>")
    plain += bytes([pad]) * (64 - len(plain) % 32)
    assert len(plain) % 32 == 0
    assert_raises(DecryptAesError, -40007, post, crypt, raw_encrypt(plain))


def test_inconsistent_pad_bytes(crypt):
    plain = layout(b"<xml/>")
    count = 32 - len(plain) % 32
    plain += bytes([count]) * (count - 2) + bytes([count - 1]) + bytes([count])
    assert_raises(DecryptAesError, -40007, post, crypt, raw_encrypt(plain))


def test_pad_longer_than_the_plaintext(crypt):
    assert_raises(DecryptAesError, -40007, post, crypt, raw_encrypt(bytes([32]) * 16))


def test_ciphertext_not_whole_aes_blocks(crypt):
    encrypt = crypt.encrypt("<xml>hello</xml>")
    cut = base64.b64encode(base64.b64decode(encrypt)[:-5]).decode()
    assert_raises(DecryptAesError, -40007, post, crypt, cut)
    assert_raises(DecryptAesError, -40007, post, crypt, base64.b64encode(b"x" * 17).decode())


def test_truncated_ciphertext(crypt):
    encrypt = crypt.encrypt("<xml><Content>a message long enough for several blocks</Content></xml>")
    cipher_text = base64.b64decode(encrypt)
    # dropping whole blocks keeps AES happy but leaves message bytes where the padding should be
    for drop in (16, 32):
        truncated = base64.b64encode(cipher_text[:-drop]).decode()
        assert_raises(DecryptAesError, -40007, post, crypt, truncated)


def test_empty_ciphertext(crypt):
    assert_raises(DecryptAesError, -40007, crypt.decrypt, "")
    assert_raises(XmlParseError, -40002, post, crypt, "")  # the envelope has no Encrypt at all


# --- plaintext structure --------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [6 + len(CORP) + 1, 1000, 2**31, 2**32 - 1])
def test_length_field_beyond_the_buffer(crypt, length):
    encrypt = raw_encrypt(wxcrypto.pkcs7_pad(layout(b"<xml/>", length=length)))
    assert_raises(IllegalBuffer, -40008, post, crypt, encrypt)
    assert_raises(IllegalBuffer, -40008, get, crypt, encrypt)


def test_plaintext_shorter_than_the_header(crypt):
    encrypt = raw_encrypt(wxcrypto.pkcs7_pad(b"R" * 19))
    assert_raises(IllegalBuffer, -40008, post, crypt, encrypt)


def test_length_field_swallowing_the_receive_id_fails_the_receive_id(crypt):
    encrypt = raw_encrypt(wxcrypto.pkcs7_pad(layout(b"<xml/>", length=6 + len(CORP))))
    assert_raises(ReceiveIdMismatch, -40005, post, crypt, encrypt)


def test_echostr_that_is_not_utf8(crypt):
    encrypt = raw_encrypt(wxcrypto.pkcs7_pad(layout(b"\xff\xfe")))
    assert_raises(IllegalBuffer, -40008, get, crypt, encrypt)


# --- envelopes ------------------------------------------------------------------------------------------

XXE = """<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><Encrypt>&xxe;</Encrypt></xml>"""

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>
<xml><Encrypt>&b;</Encrypt></xml>"""

DOCTYPE_ONLY = """<?xml version="1.0"?><!DOCTYPE xml><xml><Encrypt>AAAA</Encrypt></xml>"""


@pytest.mark.parametrize(
    "body",
    [
        XXE,
        BILLION_LAUGHS,
        DOCTYPE_ONLY,
        "<xml><Encrypt>",
        "not xml",
        "",
        "<xml><ToUserName>x</ToUserName></xml>",
        "<xml><Encrypt>  </Encrypt></xml>",
    ],
)
def test_bad_envelopes(crypt, body):
    with pytest.raises(XmlParseError) as err:
        crypt.decrypt_message(msg_signature="0" * 40, timestamp=TS, nonce=NONCE, body=body)
    assert err.value.code == -40002


@pytest.mark.parametrize("body", ["{", "[]", '{"encrypt": 5}', '{"tousername": "x"}', '{"encrypt": ""}'])
def test_bad_json_envelopes(crypt, body):
    assert_raises(
        XmlParseError,
        -40002,
        crypt.decrypt_message,
        msg_signature="0" * 40,
        timestamp=TS,
        nonce=NONCE,
        body=body,
        json_body=True,
    )


def test_json_envelope_round_trip(crypt):
    # the official sample's plaintext is malformed JSON: the crypto layer compares bytes only
    encrypt = crypt.encrypt('{"FromUserName": :mycreate"}')
    body = f'{{"tousername": "{CORP}", "encrypt": "{encrypt}", "agentid": 218}}'
    assert wxcrypto.parse_json_envelope(body).agent_id == "218"
    assert (
        crypt.decrypt_message(
            msg_signature=crypt.signature(TS, NONCE, encrypt),
            timestamp=TS,
            nonce=NONCE,
            body=body,
            json_body=True,
        )
        == b'{"FromUserName": :mycreate"}'
    )


def test_parse_xml_refuses_entities_in_decrypted_plaintext_too():
    with pytest.raises(XmlParseError):
        wxcrypto.parse_xml(BILLION_LAUGHS)


# --- keys and replies -----------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["", "A" * 42, "A" * 44, "A" * 42 + "!", "A" * 42 + "=", None, "é" * 43])
def test_illegal_aes_key(key):
    with pytest.raises(IllegalAesKey) as err:
        WXBizMsgCrypt(token=TOKEN, encoding_aes_key=key, receive_id=CORP)
    assert err.value.code == -40004


@pytest.mark.parametrize("nonce", ["]]><evil/>", "line\nbreak"])
def test_reply_refuses_a_nonce_that_would_break_the_xml(crypt, nonce):
    assert_raises(GenReturnXmlError, -40011, crypt.encrypt_reply, "<xml/>", nonce=nonce, timestamp=TS)


def test_reply_refuses_a_non_numeric_timestamp(crypt):
    assert_raises(GenReturnXmlError, -40011, crypt.encrypt_reply, "<xml/>", nonce=NONCE, timestamp="12<3")


def test_repr_shows_no_token_or_key(crypt):
    assert TOKEN not in repr(crypt) and KEY not in repr(crypt)
