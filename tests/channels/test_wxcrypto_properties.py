"""Properties of WXBizMsgCrypt for any message and any receive id."""

import base64

from hypothesis import example, given, settings
from hypothesis import strategies as st

from siyu.channels import wxcrypto
from siyu.channels.errors import CallbackCryptoError, ReceiveIdMismatch, SignatureInvalid
from siyu.channels.wxcrypto import WXBizMsgCrypt

KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
aes_keys = st.binary(min_size=32, max_size=32).map(lambda k: base64.b64encode(k).decode()[:43])
receive_ids = st.text(max_size=40)
messages = st.binary(max_size=600)
# lengths whose whole plaintext (16 + 4 + msg + receive id) lands exactly on a 32-byte boundary, and neighbours
boundary_messages = st.integers(min_value=0, max_value=12).flatmap(
    lambda blocks: st.integers(min_value=-1, max_value=1).map(lambda d: b"m" * max(0, blocks * 32 + 12 + d))
)


@settings(max_examples=300)
@given(key=aes_keys, receive_id=receive_ids, message=messages | boundary_messages)
@example(key=KEY, receive_id="", message=b"")
@example(key=KEY, receive_id="ww5823bf96d3bd56c7", message=b"x" * 42)  # 16+4+42+18 = 80: pads to 96
@example(key=KEY, receive_id="ww5823bf96d3bd56c7", message=b"x" * 26)  # 64: one full 32-byte pad block
def test_round_trip_for_any_message_and_receive_id(key, receive_id, message):
    crypt = WXBizMsgCrypt(token="t", encoding_aes_key=key, receive_id=receive_id)
    encrypt = crypt.encrypt(message)
    cipher_text = base64.b64decode(encrypt)
    plain_len = 16 + 4 + len(message) + len(receive_id.encode())
    assert len(cipher_text) % 32 == 0
    assert 1 <= len(cipher_text) - plain_len <= 32  # PKCS#7 to 32: a full block when already aligned
    assert crypt.decrypt(encrypt) == message
    sig = crypt.signature("1", "2", encrypt)
    body = f"<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    assert crypt.decrypt_message(msg_signature=sig, timestamp="1", nonce="2", body=body) == message


@given(receive_id=receive_ids, other=receive_ids, message=messages)
def test_another_receive_id_never_decrypts(receive_id, other, message):
    if receive_id == other:
        return
    encrypt = WXBizMsgCrypt(token="t", encoding_aes_key=KEY, receive_id=other).encrypt(message)
    crypt = WXBizMsgCrypt(token="t", encoding_aes_key=KEY, receive_id=receive_id)
    try:
        crypt.decrypt(encrypt)
    except ReceiveIdMismatch:
        return
    raise AssertionError("decrypted a message for another receive id")


@given(message=st.binary(max_size=200), position=st.integers(min_value=0), char=st.sampled_from("AZaz09+/"))
def test_any_change_to_the_ciphertext_fails_the_signature(message, position, char):
    crypt = WXBizMsgCrypt(token="t", encoding_aes_key=KEY, receive_id="ww1")
    encrypt = crypt.encrypt(message)
    sig = crypt.signature("1", "2", encrypt)
    i = position % len(encrypt.rstrip("="))
    tampered = encrypt[:i] + char + encrypt[i + 1 :]
    if tampered == encrypt:
        return
    try:
        crypt.decrypt_message(
            msg_signature=sig, timestamp="1", nonce="2", body=f"<xml><Encrypt>{tampered}</Encrypt></xml>"
        )
    except SignatureInvalid:
        return
    raise AssertionError("accepted a tampered ciphertext")


@settings(max_examples=300)
@given(junk=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_garbage_ciphertext_raises_only_typed_errors(junk):
    """Whatever the bytes, a garbage ciphertext ends in a CallbackCryptoError, never another exception."""
    crypt = WXBizMsgCrypt(token="t", encoding_aes_key=KEY, receive_id="ww1")
    for encrypt in (base64.b64encode(junk).decode(), junk.decode("latin-1")):
        try:
            crypt.decrypt(encrypt)
        except CallbackCryptoError:
            continue
        raise AssertionError("garbage decrypted")


@settings(max_examples=200)
@given(body=st.binary(max_size=300) | st.text(max_size=300))
def test_garbage_bodies_raise_only_typed_errors(body):
    crypt = WXBizMsgCrypt(token="t", encoding_aes_key=KEY, receive_id="ww1")
    for json_body in (False, True):
        try:
            crypt.decrypt_message(
                msg_signature="0" * 40, timestamp="1", nonce="2", body=body, json_body=json_body
            )
        except CallbackCryptoError:
            continue
        raise AssertionError("garbage body accepted")


@given(
    timestamp=st.integers(min_value=0, max_value=2**40),
    nonce=st.text(min_size=1, max_size=30),
    token=st.text(min_size=1, max_size=30),
)
def test_signature_is_independent_of_argument_order(timestamp, nonce, token):
    a = wxcrypto.signature(token, timestamp, nonce)
    assert a == wxcrypto.signature(nonce, str(timestamp), token)
    assert len(a) == 40 and a == a.lower()
