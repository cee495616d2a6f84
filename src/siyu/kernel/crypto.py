"""Field encryption primitives: AES-256-GCM envelopes with a key id, an HMAC blind index, masking.

## Personal data at rest

**Envelope.** A personal value is stored as text, so it fits any ``TextField`` or a string inside a JSON
column: ``v1:<key id>:<base64url(nonce 12 bytes || ciphertext || tag 16 bytes)>``. AES-GCM authenticates the
ciphertext; the ``context`` (``"iam.membership.mobile"``, ``"cdp.identity.phone"``,
``"platform:<object_key>:<field_key>"`` for custom fields) is bound as associated data, so a ciphertext copied
to another column or field does not decrypt. The key id says which key to use, so old values stay readable
while ``siyu keys rotate`` re-encrypts them under the active key.

**Keys.** ``SIYU_FIELD_KEYS`` is ``{"active": "k2", "keys": {"k1": "<b64 32 bytes>", "k2": …},
"index_key": "<b64 32 bytes>"}``. From the environment in production; in embedded mode generated into
``$SIYU_VAR_DIR/field_keys.json`` (mode 0600), which running processes re-read when it changes, so a rotation
done by ``siyu keys rotate`` reaches the web server and the worker without a restart.

**Blind index.** ``blind_index(value, context=…)`` is HMAC-SHA256 under one fixed *index key*, separate from the
encryption keys, over a normalised value and the same context as its envelope: exact-match lookup without
decrypting, and equal values in two columns do not link their rows. It never changes on rotation (rotating it
would mean recomputing every index from the plaintext). The index key is ``index_key`` when given; otherwise it is derived (HMAC under the label
``siyu-blind-index-v1``) from the key ``index_key_id`` names, or from the only key there is. With several keys
and neither field set we refuse to guess (a new key sorting first would silently break every lookup). The
first ``siyu keys rotate`` in embedded mode pins the derived value as ``index_key``, so retiring ``k1`` later
leaves lookups intact.

**Rotation.** Embedded mode: ``siyu keys rotate`` adds a key, makes it active and re-encrypts every registered
column and JSON envelope under it in batches (resumable: a re-run finishes a killed run before making another
key); ``siyu keys status`` counts values per key; ``--retire OLD`` refuses while any value is under ``OLD``.
Environment mode: add the new key everywhere, restart, mark it active, restart, then ``siyu keys rotate``.

**Masking.** ``mask(value, kind)``: phone ``138****5678``, email ``a***@example.com``, text ``张*``. Values are
shown masked unless the actor holds ``<object_key>.unmask``; see ``kernel/encrypted.py`` for the column
registry, ``set_encrypted``/``lookup_value``/``display``/``reveal_for`` and rotation, and
``docs/adr/0001-field-encryption.md`` for the reasoning and the rotation procedure.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.signals import setting_changed

PREFIX = "v1"
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_BYTES = 32
INDEX_LABEL = b"siyu-blind-index-v1"
KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_ENVELOPE = re.compile(r"^v1:([A-Za-z0-9_-]{1,32}):([A-Za-z0-9_-]+)$")
# Nonce and tag, base64url without padding: anything shorter cannot be an envelope.
_MIN_BODY = (NONCE_BYTES + TAG_BYTES) * 4 // 3


class CryptoError(Exception):
    """A value cannot be encrypted or decrypted (bad configuration, wrong context, tampering, unknown key)."""


class UnknownKeyError(CryptoError):
    """The value names a key id that is not configured (it was retired or never deployed here)."""


@dataclass(frozen=True)
class KeyRing:
    active: str
    keys: Mapping[str, bytes]
    index_key: bytes


# --- configuration ---------------------------------------------------------------------------------------


def _b64_key(value: Any, what: str) -> bytes:
    try:
        raw = base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CryptoError(f"{what} is not valid base64") from exc
    if len(raw) != KEY_BYTES:
        raise CryptoError(f"{what} must be {KEY_BYTES} bytes, got {len(raw)}")
    return raw


def _derive_index_key(key: bytes) -> bytes:
    return hmac.new(key, INDEX_LABEL, hashlib.sha256).digest()


def parse_config(conf: Mapping[str, Any]) -> KeyRing:
    """Validate a ``SIYU_FIELD_KEYS`` mapping; every mistake is a :class:`CryptoError` naming what is wrong."""
    if not isinstance(conf, Mapping) or not isinstance(conf.get("keys"), Mapping) or not conf["keys"]:
        raise CryptoError('SIYU_FIELD_KEYS must be {"active": id, "keys": {id: base64 key, …}}')
    keys = {}
    for kid, value in conf["keys"].items():
        if not KEY_ID.match(str(kid)):
            raise CryptoError(f"field key id {kid!r} must be 1-32 letters, digits, '-' or '_'")
        keys[str(kid)] = _b64_key(value, f"field key {kid!r}")
    active = conf.get("active")
    if active not in keys:
        raise CryptoError(f"the active field key id {active!r} is not among the keys {sorted(keys)}")
    if conf.get("index_key"):
        index_key = _b64_key(conf["index_key"], "index_key")
    elif conf.get("index_key_id"):
        if conf["index_key_id"] not in keys:
            raise CryptoError(f"index_key_id {conf['index_key_id']!r} is not among the keys")
        index_key = _derive_index_key(keys[conf["index_key_id"]])
    elif len(keys) == 1:
        index_key = _derive_index_key(next(iter(keys.values())))
    else:
        raise CryptoError(
            "SIYU_FIELD_KEYS has several keys but no index_key or index_key_id: name the key the blind index "
            "was derived from (the first key you had) in index_key_id, or set index_key"
        )
    return KeyRing(active=active, keys=keys, index_key=index_key)


def keys_file() -> Path | None:
    """The embedded-mode key file, or ``None`` when keys come from the ``SIYU_FIELD_KEYS`` environment variable."""
    if not _keys_file:
        _keys_file.append(None if settings.SIYU_FIELD_KEYS_FROM_ENV else Path(
            getattr(settings, "SIYU_FIELD_KEYS_FILE", None) or settings.VAR_DIR / "field_keys.json"))
    return _keys_file[0]


# Where the key file is, worked out once: the settings look-ups cost more than the ``stat`` every call makes
# (about 50 µs of ~85 µs per encrypt/decrypt/blind_index). A changed file is still seen at the next call; a
# changed *setting* (tests, ``override_settings``) forgets the path.
_keys_file: list[Path | None] = []
_KEY_SETTINGS = {"SIYU_FIELD_KEYS_FROM_ENV", "SIYU_FIELD_KEYS_FILE", "VAR_DIR"}


def _forget_keys_file(*, setting: str, **kwargs: Any) -> None:
    if setting in _KEY_SETTINGS:
        _keys_file.clear()


setting_changed.connect(_forget_keys_file)


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


# path -> stamp when this process first looked; path -> (stamp, parsed file content)
_first_stamp: dict[Path, tuple[int, int, int] | None] = {}
_file_conf: dict[Path, tuple[tuple[int, int, int], dict]] = {}
_parsed: list[tuple[dict, KeyRing]] = []


def current_config() -> dict:
    """The key configuration in force: settings, or the key file once it changed after this process started.

    Settings read the key file at start-up; when ``siyu keys rotate`` rewrites it, the web server and the
    worker must see the new key at once (they would otherwise fail on values rotated to a key they lack, or
    keep writing under the old one), so a changed file wins.
    """
    conf = settings.SIYU_FIELD_KEYS
    path = keys_file()
    if path is None:
        return conf
    stamp = _stamp(path)
    first = _first_stamp.setdefault(path, stamp)
    if stamp is None or stamp == first:
        return conf
    cached = _file_conf.get(path)
    if cached is None or cached[0] != stamp:
        cached = (stamp, json.loads(path.read_text()))
        _file_conf[path] = cached
    return cached[1]


def _remember_start_up_stamp() -> None:
    # Settings read the key file when the process started: remember the file as it was then, so a rewrite
    # by ``siyu keys rotate`` is recognised even before this process encrypts anything.
    try:
        path = keys_file()
    except Exception:  # noqa: BLE001 - settings of another project (a bare test harness): nothing to remember
        return
    if path is not None:
        _first_stamp.setdefault(path, _stamp(path))


def keyring() -> KeyRing:
    conf = current_config()
    if _parsed and _parsed[0][0] == conf:
        return _parsed[0][1]
    ring = parse_config(conf)
    _parsed[:] = [(json.loads(json.dumps(conf)), ring)]
    return ring


def active_key_id() -> str:
    return keyring().active


def new_key() -> str:
    """A fresh 32-byte key, base64 encoded as ``SIYU_FIELD_KEYS`` holds it."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def next_key_id(existing: Mapping[str, Any]) -> str:
    numbers = [int(k[1:]) for k in existing if re.fullmatch(r"k\d+", k)]
    return f"k{max(numbers, default=0) + 1}"


def pinned(conf: Mapping[str, Any]) -> dict:
    """``conf`` with its current blind-index key written out as ``index_key`` (so retiring any key keeps it)."""
    out = json.loads(json.dumps(dict(conf)))
    out["index_key"] = base64.b64encode(parse_config(conf).index_key).decode()
    out.pop("index_key_id", None)
    return out


def write_keys_file(path: Path, conf: Mapping[str, Any]) -> None:
    """Replace the embedded-mode key file atomically (mode 0600); running processes pick it up on next use."""
    parse_config(conf)  # never write a configuration that cannot be read back
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(conf, indent=2, sort_keys=True))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _first_stamp.setdefault(path, None)


def index_key_b64() -> str:
    """The blind-index key, for an operator who must pin it as ``index_key`` in ``SIYU_FIELD_KEYS``."""
    return base64.b64encode(keyring().index_key).decode()


# --- envelopes --------------------------------------------------------------------------------------------


def is_envelope(value: object) -> bool:
    return isinstance(value, str) and _ENVELOPE.match(value) is not None


def key_id_of(token: str) -> str:
    m = _ENVELOPE.match(token) if isinstance(token, str) else None
    if m is None:
        raise CryptoError("not an encrypted value")
    return m.group(1)


def encrypt(plaintext: str, *, context: str) -> str:
    if not isinstance(plaintext, str):
        raise TypeError("encrypt() takes text; normalise the value first")
    if not context:
        raise CryptoError("a context is required (it binds the value to its column)")
    ring = keyring()
    nonce = os.urandom(NONCE_BYTES)
    ct = AESGCM(ring.keys[ring.active]).encrypt(nonce, plaintext.encode("utf-8"), context.encode("utf-8"))
    return f"{PREFIX}:{ring.active}:{base64.urlsafe_b64encode(nonce + ct).decode().rstrip('=')}"


def decrypt(token: str, *, context: str) -> str:
    m = _ENVELOPE.match(token) if isinstance(token, str) else None
    if m is None:
        raise CryptoError("not an encrypted value")
    kid, body = m.groups()
    ring = keyring()
    if kid not in ring.keys:
        raise UnknownKeyError(
            f"the value is encrypted under field key {kid!r}, which is not configured "
            f"(configured: {sorted(ring.keys)}); restore that key in SIYU_FIELD_KEYS"
        )
    if len(body) < _MIN_BODY:
        raise CryptoError("encrypted value is truncated")
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError) as exc:
        raise CryptoError("encrypted value is not valid base64") from exc
    try:
        plain = AESGCM(ring.keys[kid]).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode("utf-8"))
    except InvalidTag as exc:
        raise CryptoError("encrypted value does not authenticate (wrong context, or tampered)") from exc
    return plain.decode("utf-8")


def reencrypt(token: str, *, context: str) -> str:
    """The same plaintext under the active key (unchanged when it already is)."""
    if key_id_of(token) == keyring().active:
        return token
    return encrypt(decrypt(token, context=context), context=context)


def blind_index(value: str, *, context: str) -> str:
    """Deterministic keyed hash of a normalised value within a domain, for exact lookup without decrypting."""
    return hmac.new(keyring().index_key, f"{context}\x00{value}".encode(), hashlib.sha256).hexdigest()


# --- masking ----------------------------------------------------------------------------------------------


def mask_phone(value: str) -> str:
    digits = re.sub(r"\D", "", value)
    if len(digits) >= 11:
        d = digits[-11:]  # a Chinese mobile is 11 digits: 138****5678 whatever the country prefix
        return f"{d[:3]}****{d[-4:]}"
    if len(digits) >= 7:
        return f"{digits[:2]}***{digits[-2:]}"
    return "****"


def mask_email(value: str) -> str:
    local, _, domain = value.partition("@")
    if not domain or not local:
        return "****"
    return f"{local[:1]}***@{domain}"


def mask_text(value: str) -> str:
    if len(value) <= 1:
        return "*"
    return value[0] + "*" * min(len(value) - 1, 6)


MASKERS = {"phone": mask_phone, "email": mask_email, "text": mask_text}


def mask(value: str | None, kind: str = "text") -> str:
    """Masked text for display and audit; an unknown kind masks as text (never shows more)."""
    if not value:
        return ""
    return MASKERS.get(kind, mask_text)(str(value))


if settings.configured:
    _remember_start_up_stamp()
