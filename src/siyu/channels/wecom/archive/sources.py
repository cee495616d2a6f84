"""Where archived messages come from: the ``ArchiveSource`` interface and its two implementations.

WeCom serves message *content* only through its native C library (``libWeWorkFinanceSdk_C``, protocol document
§4.1–4.2): ``GetChatData`` returns encrypted records, the record's ``encrypt_random_key`` is RSA-decrypted (PKCS#1
v1.5) with the private key of ``publickey_ver`` and handed with ``encrypt_chat_msg`` to ``DecryptData``, whose
algorithm is undocumented. So:

* ``SimulatorSource`` asks the simulator's ``msgaudit/sim/get_chat_data`` for what the SDK's GetChatData +
  DecryptData would yield: records after ``seq`` with the decrypted message JSON (§4.3);
* ``NativeSdkSource`` loads the library with ctypes when ``SIYU_WECOM_FINANCE_SDK`` names it; it is optional and
  untested here (no machine here has the library), and refuses clearly when it is absent.

Both return ``ChatRecord``s in ``seq`` order; the caller keeps the cursor.
"""

from __future__ import annotations

import base64
import ctypes
import json
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings

from siyu.channels.errors import ChannelConfigError, ChannelUnavailable
from siyu.channels.tokens import DjangoCacheTokenStore
from siyu.channels.wecom.client import WeComClient

FETCH_LIMIT = 1000  # GetChatData's maximum


@dataclass(frozen=True)
class ChatRecord:
    seq: int
    msgid: str
    message: dict[str, Any]  # the decrypted message JSON (§4.3)


class ArchiveSource(Protocol):
    def fetch(self, *, seq: int, limit: int = FETCH_LIMIT) -> list[ChatRecord]:
        """Records with a sequence number above ``seq``, at most ``limit``, ascending."""


class SimulatorSource:
    def __init__(self, *, corp_id: str, secret: str, api_base: str, client_options: dict[str, Any] | None = None):
        options = {"token_store": DjangoCacheTokenStore(), **(client_options or {})}
        self.client = WeComClient(corp_id=corp_id, secret=secret, api_base=api_base, **options)

    def fetch(self, *, seq: int, limit: int = FETCH_LIMIT) -> list[ChatRecord]:
        answer = self.client.call("POST", "msgaudit/sim/get_chat_data", body={"seq": seq, "limit": limit},
                                  idempotent=True)
        return [ChatRecord(int(r["seq"]), str(r["msgid"]), dict(r.get("message") or {}))
                for r in answer.get("chatdata") or ()]


class _Slice(ctypes.Structure):
    _fields_ = [("buf", ctypes.c_char_p), ("len", ctypes.c_int)]


class NativeSdkSource:
    """The vendor SDK through ctypes (``NewSdk``, ``Init``, ``GetChatData``, ``DecryptData``)."""

    RETRYABLE = {10001, 10002, 10003}  # network, parse, system (§4.1)

    def __init__(self, *, corp_id: str, secret: str, private_key_pem: str):
        path = getattr(settings, "SIYU_WECOM_FINANCE_SDK", "")
        if not path:
            raise ChannelConfigError("the WeCom Finance SDK is not installed (set SIYU_WECOM_FINANCE_SDK)")
        try:
            self.lib = ctypes.CDLL(path)
        except OSError as exc:
            raise ChannelConfigError(f"the WeCom Finance SDK could not be loaded: {exc}") from None
        from cryptography.hazmat.primitives import serialization

        self.key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
        self.lib.NewSdk.restype = ctypes.c_void_p
        self.lib.NewSlice.restype = ctypes.POINTER(_Slice)
        self.sdk = ctypes.c_void_p(self.lib.NewSdk())
        ret = self.lib.Init(self.sdk, corp_id.encode(), secret.encode())
        if ret != 0:
            raise ChannelConfigError(f"WeCom Finance SDK Init failed ({ret})")

    def _call(self, fn, *args) -> str:
        out = self.lib.NewSlice()
        try:
            ret = fn(*args, out)
            if ret != 0:
                error = ChannelUnavailable if ret in self.RETRYABLE else ChannelConfigError
                raise error(f"WeCom Finance SDK error {ret}")
            return ctypes.string_at(out.contents.buf, out.contents.len).decode("utf-8")
        finally:
            self.lib.FreeSlice(out)

    def fetch(self, *, seq: int, limit: int = FETCH_LIMIT) -> list[ChatRecord]:
        from cryptography.hazmat.primitives.asymmetric import padding

        data = json.loads(self._call(self.lib.GetChatData, self.sdk, ctypes.c_ulonglong(seq),
                                     ctypes.c_uint(limit), b"", b"", ctypes.c_int(10)))
        if data.get("errcode"):
            raise ChannelUnavailable(f"GetChatData errcode {data.get('errcode')}")
        records = []
        for item in data.get("chatdata") or ():
            random_key = self.key.decrypt(base64.b64decode(item["encrypt_random_key"]), padding.PKCS1v15())
            plain = self._call(self.lib.DecryptData, random_key, item["encrypt_chat_msg"].encode())
            records.append(ChatRecord(int(item["seq"]), str(item["msgid"]), json.loads(plain)))
        return records


def source_for(config) -> ArchiveSource:
    from siyu.channels.wecom.corps import client_options
    from siyu.kernel import encrypted

    secret = encrypted.reveal(config, "secret")
    if config.source == config.Source.NATIVE:
        return NativeSdkSource(corp_id=config.corp.corp_id, secret=secret,
                               private_key_pem=encrypted.reveal(config, "private_key"))
    return SimulatorSource(corp_id=config.corp.corp_id, secret=secret, api_base=config.corp.api_base,
                           client_options=client_options)
