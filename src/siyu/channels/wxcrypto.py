"""WXBizMsgCrypt: the callback message crypto shared by WeCom and the WeChat official account.

Implements ``shared/docs/wecom-protocol.md`` §1 exactly:

* signature: lowercase hex SHA-1 of the sorted, concatenated values ``token, timestamp, nonce, encrypt``
  (official accounts also sign plain requests with the three values ``token, timestamp, nonce``);
* key: ``Base64(EncodingAESKey + "=")`` → 32 bytes (AES-256); IV = the first 16 bytes of the key;
* AES-256-CBC with PKCS#7 padding to a multiple of **32** bytes (pad count 1..32);
* plaintext: 16 random bytes ‖ 4-byte big-endian message length (in bytes) ‖ message ‖ receive id, where the
  receive id is the CorpID (WeCom self-built apps), SuiteID (third-party instructions) or AppID (official
  account) and is checked after decryption;
* XML envelopes parsed with DTDs and entities forbidden (``defusedxml``).

Every failure raises a ``siyu.channels.errors.CallbackCryptoError`` subclass carrying the official code
(-40001 … -40011); no failure path returns a message. Signatures are compared in constant time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import string
import struct
import time
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as _defused_fromstring

from siyu.channels.errors import (
    DecodeBase64Error,
    DecryptAesError,
    EncodeBase64Error,
    EncryptAesError,
    GenReturnXmlError,
    IllegalAesKey,
    IllegalBuffer,
    ReceiveIdMismatch,
    SignatureComputeError,
    SignatureInvalid,
    XmlParseError,
)

BLOCK_SIZE = 32  # PKCS#7 block of WXBizMsgCrypt: 32 bytes, not AES's 16
_AES_BLOCK = 16
_RANDOM_LEN = 16
_LEN_FIELD = 4
# The official samples send letters and digits as the random prefix; receivers must accept any bytes.
_RANDOM_ALPHABET = string.ascii_letters + string.digits
_ENCODING_AES_KEY = re.compile(r"[A-Za-z0-9+/]{43}")
_DIGITS = re.compile(r"[0-9]{1,20}")


# --- signatures -----------------------------------------------------------------------------------------


def signature(*values: str | int) -> str:
    """Lowercase hex SHA-1 over the values sorted as strings and concatenated without separator."""
    try:
        parts = sorted(str(v) for v in values)
        return hashlib.sha1("".join(parts).encode("utf-8")).hexdigest()
    except (TypeError, ValueError, UnicodeEncodeError) as exc:
        raise SignatureComputeError(f"cannot compute signature: {type(exc).__name__}") from None


def check_signature(expected: str, *values: str | int) -> None:
    """Raise ``SignatureInvalid`` unless ``expected`` is the signature of ``values`` (constant-time compare)."""
    computed = signature(*values)
    given = (expected or "").strip().lower()
    if not hmac.compare_digest(computed.encode("ascii"), given.encode("utf-8", "replace")):
        raise SignatureInvalid("signature mismatch")


def oa_signature(*, token: str, timestamp: str | int, nonce: str | int) -> str:
    """The official account's three-value ``signature`` (plain mode, URL verification)."""
    return signature(token, timestamp, nonce)


def verify_oa_signature(*, token: str, timestamp: str | int, nonce: str | int, signature: str) -> None:
    """Check the official account's three-value ``signature``; raise ``SignatureInvalid`` otherwise.

    In safe mode verify ``msg_signature`` with ``WXBizMsgCrypt.decrypt_message`` instead (the protocol document:
    "不要使用signature验证").
    """
    check_signature(signature, token, timestamp, nonce)


def verify_oa_url(*, token: str, timestamp: str | int, nonce: str | int, signature: str, echostr: str) -> str:
    """Official-account / mini-program URL verification: check the three-value signature, echo ``echostr`` as is."""
    verify_oa_signature(token=token, timestamp=timestamp, nonce=nonce, signature=signature)
    return echostr


# --- envelopes ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Envelope:
    """What a POST callback body carries around the ciphertext."""

    encrypt: str
    to_user_name: str = ""
    agent_id: str = ""


def parse_xml(body: bytes | str) -> dict[str, str]:
    """Top-level children of an XML document as ``{tag: text}``; DTDs, entities and external refs are refused.

    Children with children of their own map to their text (usually empty); callers needing nested structures
    parse the plaintext themselves with the same safe parser (``safe_fromstring``).
    """
    root = safe_fromstring(body)
    return {child.tag: (child.text or "") for child in root}


def safe_fromstring(body: bytes | str):
    """Parse untrusted XML with DTDs, entity declarations and external references forbidden."""
    try:
        return _defused_fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (DefusedXmlException, SyntaxError, ValueError) as exc:  # ParseError subclasses SyntaxError
        raise XmlParseError(f"invalid XML: {type(exc).__name__}") from None


def parse_envelope(body: bytes | str) -> Envelope:
    """The XML envelope of a WeCom or official-account POST (``ToUserName``, ``Encrypt``, ``AgentID``).

    Compatibility-mode official-account bodies also carry plaintext fields beside ``Encrypt``; they are ignored:
    only the ciphertext is trusted, after its signature is checked.
    """
    fields = parse_xml(body)
    encrypt = fields.get("Encrypt", "").strip()
    if not encrypt:
        raise XmlParseError("envelope has no Encrypt element")
    return Envelope(
        encrypt=encrypt, to_user_name=fields.get("ToUserName", ""), agent_id=fields.get("AgentID", "")
    )


def parse_json_envelope(body: bytes | str) -> Envelope:
    """The JSON envelope variant (``{"tousername", "encrypt", "agentid"}``, lower-case keys)."""
    try:
        data = json.loads(body)
    except (ValueError, TypeError, RecursionError) as exc:
        raise XmlParseError(f"invalid JSON: {type(exc).__name__}") from None
    if not isinstance(data, dict) or not isinstance(data.get("encrypt"), str) or not data["encrypt"].strip():
        raise XmlParseError("envelope has no encrypt field")
    return Envelope(
        encrypt=data["encrypt"].strip(),
        to_user_name=str(data.get("tousername", "")),
        agent_id=str(data.get("agentid", "")),
    )


def build_reply_xml(*, encrypt: str, msg_signature: str, timestamp: str | int, nonce: str) -> str:
    """The passive encrypted reply envelope, byte-exact with the official samples (LF separated)."""
    timestamp = str(timestamp)
    # Nonce echoes a request parameter: it must not be able to close the CDATA section or inject markup.
    if not _DIGITS.fullmatch(timestamp) or not _cdata_safe(nonce) or not _cdata_safe(encrypt):
        raise GenReturnXmlError("reply field cannot be written into XML")
    return (
        "<xml>\n"
        f"<Encrypt><![CDATA[{encrypt}]]></Encrypt>\n"
        f"<MsgSignature><![CDATA[{msg_signature}]]></MsgSignature>\n"
        f"<TimeStamp>{timestamp}</TimeStamp>\n"
        f"<Nonce><![CDATA[{nonce}]]></Nonce>\n"
        "</xml>"
    )


def _cdata_safe(value: str) -> bool:
    return "]]>" not in value and all(c.isprintable() for c in value)


# --- the cipher -----------------------------------------------------------------------------------------


def decode_aes_key(encoding_aes_key: str) -> bytes:
    """``EncodingAESKey`` (43 Base64 characters without the trailing ``=``) → the 32-byte AES key."""
    if not isinstance(encoding_aes_key, str) or not _ENCODING_AES_KEY.fullmatch(encoding_aes_key):
        raise IllegalAesKey("EncodingAESKey must be 43 Base64 characters")
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except binascii.Error:
        raise IllegalAesKey("EncodingAESKey does not decode") from None
    if len(key) != 32:
        raise IllegalAesKey("EncodingAESKey does not decode to 32 bytes")
    return key


def pkcs7_pad(data: bytes, block_size: int = BLOCK_SIZE) -> bytes:
    count = block_size - len(data) % block_size  # 1..block_size: a full block when already aligned
    return data + bytes([count]) * count


def pkcs7_unpad(data: bytes, block_size: int = BLOCK_SIZE) -> bytes:
    """Strip PKCS#7 padding; the pad byte must be 1..block_size and every pad byte must equal it."""
    if not data:
        raise DecryptAesError("empty plaintext")
    count = data[-1]
    if count < 1 or count > block_size or count > len(data):
        raise DecryptAesError("bad padding")
    if data[-count:] != bytes([count]) * count:
        raise DecryptAesError("bad padding")
    return data[:-count]


@dataclass(frozen=True)
class Plaintext:
    """The decrypted layout: 16 random bytes, the message, the receive id (bytes as received)."""

    random: bytes
    message: bytes
    receive_id: bytes


class WXBizMsgCrypt:
    """Encrypt, decrypt and sign callback messages for one (token, EncodingAESKey, receive id) triple.

    ``receive_id`` is the CorpID for WeCom self-built apps, the SuiteID for third-party instruction callbacks,
    the AppID for official accounts, and the empty string for group robots.
    """

    def __init__(self, *, token: str, encoding_aes_key: str, receive_id: str):
        self._token = token
        self._key = decode_aes_key(encoding_aes_key)
        self._iv = self._key[:_AES_BLOCK]
        self.receive_id = receive_id

    def __repr__(self) -> str:  # token and key stay out of logs and tracebacks
        return f"WXBizMsgCrypt(receive_id={self.receive_id!r})"

    # signatures
    def signature(self, timestamp: str | int, nonce: str | int, encrypt: str) -> str:
        return signature(self._token, timestamp, nonce, encrypt)

    def check(self, msg_signature: str, timestamp: str | int, nonce: str | int, encrypt: str) -> None:
        check_signature(msg_signature, self._token, timestamp, nonce, encrypt)

    # raw cipher
    def encrypt(self, message: bytes | str, *, random: bytes | None = None) -> str:
        """Base64 ciphertext of ``message`` for this receive id; ``random`` fixes the 16-byte prefix (tests)."""
        msg = message.encode("utf-8") if isinstance(message, str) else bytes(message)
        prefix = random if random is not None else _random_prefix()
        if len(prefix) != _RANDOM_LEN:
            raise EncryptAesError("random prefix must be 16 bytes")
        try:
            plain = prefix + struct.pack(">I", len(msg)) + msg + self.receive_id.encode("utf-8")
        except struct.error:
            raise EncryptAesError("message too long") from None
        encryptor = Cipher(algorithms.AES(self._key), modes.CBC(self._iv)).encryptor()
        cipher_text = encryptor.update(pkcs7_pad(plain)) + encryptor.finalize()
        try:
            return base64.b64encode(cipher_text).decode("ascii")
        except (binascii.Error, UnicodeDecodeError):  # pragma: no cover - b64encode of bytes cannot fail
            raise EncodeBase64Error() from None

    def decrypt(self, encrypt: str) -> bytes:
        """The message bytes inside ``encrypt`` after checking padding, structure and the receive id.

        Does not check a signature: use ``decrypt_message`` / ``verify_url`` for anything from the network.
        """
        plain = self.decrypt_unchecked(encrypt)
        if not hmac.compare_digest(plain.receive_id, self.receive_id.encode("utf-8")):
            raise ReceiveIdMismatch("receive id mismatch")
        return plain.message

    def decrypt_unchecked(self, encrypt: str) -> Plaintext:
        """All three parts of the plaintext **without** the receive-id check (diagnostics and test vectors)."""
        try:
            cipher_text = base64.b64decode(encrypt, validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise DecodeBase64Error("ciphertext is not Base64") from None
        if not cipher_text or len(cipher_text) % _AES_BLOCK:
            raise DecryptAesError("ciphertext is not whole AES blocks")
        decryptor = Cipher(algorithms.AES(self._key), modes.CBC(self._iv)).decryptor()
        plain = pkcs7_unpad(decryptor.update(cipher_text) + decryptor.finalize())
        if len(plain) < _RANDOM_LEN + _LEN_FIELD:
            raise IllegalBuffer("plaintext too short")
        (msg_len,) = struct.unpack(">I", plain[_RANDOM_LEN : _RANDOM_LEN + _LEN_FIELD])
        start = _RANDOM_LEN + _LEN_FIELD
        if msg_len > len(plain) - start:
            raise IllegalBuffer("length field beyond the buffer")
        return Plaintext(
            random=plain[:_RANDOM_LEN],
            message=plain[start : start + msg_len],
            receive_id=plain[start + msg_len :],
        )

    # protocol steps
    def verify_url(self, *, msg_signature: str, timestamp: str | int, nonce: str | int, echostr: str) -> str:
        """WeCom GET URL verification: check the signature over ``echostr``, answer with its decrypted text.

        ``echostr`` must already be percent-decoded (``+`` stays ``+``).
        """
        self.check(msg_signature, timestamp, nonce, echostr)
        try:
            return self.decrypt(echostr).decode("utf-8")
        except UnicodeDecodeError:
            raise IllegalBuffer("echostr plaintext is not UTF-8") from None

    def decrypt_message(
        self,
        *,
        msg_signature: str,
        timestamp: str | int,
        nonce: str | int,
        body: bytes | str,
        json_body: bool = False,
    ) -> bytes:
        """Verify and decrypt a POST callback body (XML envelope, or the JSON variant); the plaintext bytes."""
        envelope = parse_json_envelope(body) if json_body else parse_envelope(body)
        self.check(msg_signature, timestamp, nonce, envelope.encrypt)
        return self.decrypt(envelope.encrypt)

    def encrypt_reply(
        self,
        reply: bytes | str,
        *,
        nonce: str,
        timestamp: str | int | None = None,
        random: bytes | None = None,
    ) -> str:
        """The passive encrypted reply envelope (XML) for ``reply``; ``timestamp`` defaults to now."""
        timestamp = str(int(time.time())) if timestamp is None else str(timestamp)
        encrypt = self.encrypt(reply, random=random)
        return build_reply_xml(
            encrypt=encrypt,
            msg_signature=self.signature(timestamp, nonce, encrypt),
            timestamp=timestamp,
            nonce=nonce,
        )


def _random_prefix() -> bytes:
    return "".join(secrets.choice(_RANDOM_ALPHABET) for _ in range(_RANDOM_LEN)).encode("ascii")
