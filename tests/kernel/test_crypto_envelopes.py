"""kernel.crypto: envelopes, key configuration, blind index and masks (no database)."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from siyu.kernel import crypto

K1 = base64.b64encode(bytes(range(32))).decode()
K2 = base64.b64encode(bytes(range(32, 64))).decode()
K9 = base64.b64encode(bytes(range(64, 96))).decode()


@pytest.fixture
def keys(settings):
    """Set the key configuration (environment mode, so the embedded key file plays no part)."""
    settings.SIYU_FIELD_KEYS_FROM_ENV = True

    def use(conf):
        settings.SIYU_FIELD_KEYS = conf
        return conf

    use({"active": "k1", "keys": {"k1": K1}})
    return use


def test_round_trip_and_format(keys):
    token = crypto.encrypt("13800138000", context="iam.membership.mobile")
    assert token.startswith("v1:k1:")
    assert crypto.key_id_of(token) == "k1"
    assert crypto.is_envelope(token)
    assert crypto.decrypt(token, context="iam.membership.mobile") == "13800138000"
    # nonce + 11 bytes + tag, base64url without padding
    assert len(token.split(":", 2)[2]) == len(base64.urlsafe_b64encode(bytes(12 + 11 + 16)).rstrip(b"="))


def test_each_encryption_uses_a_fresh_nonce(keys):
    a = crypto.encrypt("same", context="c")
    b = crypto.encrypt("same", context="c")
    assert a != b
    assert crypto.decrypt(a, context="c") == crypto.decrypt(b, context="c") == "same"


def test_wrong_context_fails(keys):
    token = crypto.encrypt("13800138000", context="iam.membership.mobile")
    with pytest.raises(crypto.CryptoError, match="does not authenticate"):
        crypto.decrypt(token, context="cdp.identity.phone")


@pytest.mark.parametrize("position", [6, 10, 30, -1])
def test_tampered_ciphertext_fails(keys, position):
    token = crypto.encrypt("13800138000", context="c")
    chars = list(token)
    i = position % len(chars)
    chars[i] = "A" if chars[i] != "A" else "B"
    with pytest.raises(crypto.CryptoError):
        crypto.decrypt("".join(chars), context="c")


def test_key_id_swapped_to_another_configured_key_fails(keys):
    token = crypto.encrypt("secret", context="c")
    keys({"active": "k1", "keys": {"k1": K1, "k2": K2}, "index_key_id": "k1"})
    with pytest.raises(crypto.CryptoError, match="does not authenticate"):
        crypto.decrypt(token.replace("v1:k1:", "v1:k2:"), context="c")


def test_unknown_key_id_fails_clearly(keys):
    keys({"active": "k9", "keys": {"k9": K9}})
    token = crypto.encrypt("secret", context="c")
    keys({"active": "k1", "keys": {"k1": K1}})
    with pytest.raises(crypto.UnknownKeyError, match=r"field key 'k9', which is not configured \(configured: \['k1'\]\)"):
        crypto.decrypt(token, context="c")


@pytest.mark.parametrize("bad", ["", "plain text", "v1:k1", "v2:k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                                 "v1:k1:AAAA", "v1:k1:" + "!" * 40, "v1::" + "A" * 40, "v1:k1:" + "A" * 41])
def test_malformed_values_raise_crypto_error_only(keys, bad):
    with pytest.raises(crypto.CryptoError):
        crypto.decrypt(bad, context="c")


def test_non_text_is_refused(keys):
    with pytest.raises(TypeError):
        crypto.encrypt(13800138000, context="c")  # type: ignore[arg-type]
    with pytest.raises(crypto.CryptoError):
        crypto.encrypt("x", context="")
    with pytest.raises(crypto.CryptoError):
        crypto.decrypt(None, context="c")  # type: ignore[arg-type]


@hsettings(max_examples=200, deadline=None)
@given(plaintext=st.text(), context=st.text(min_size=1, max_size=80))
def test_any_unicode_string_round_trips(plaintext, context):
    # Runs under the suite's embedded key file: no fixture (hypothesis reuses the test function).
    token = crypto.encrypt(plaintext, context=context)
    assert crypto.is_envelope(token)
    assert crypto.decrypt(token, context=context) == plaintext
    with pytest.raises(crypto.CryptoError):
        crypto.decrypt(token, context=context + "x")


def test_rotation_config_old_values_readable_reencrypt_and_stable_index(keys):
    old = crypto.encrypt("+8613800138000", context="c")
    index = crypto.blind_index("+8613800138000", context="c")
    keys({"active": "k2", "keys": {"k1": K1, "k2": K2}, "index_key_id": "k1"})
    assert crypto.decrypt(old, context="c") == "+8613800138000"
    new = crypto.reencrypt(old, context="c")
    assert new.startswith("v1:k2:") and crypto.decrypt(new, context="c") == "+8613800138000"
    assert crypto.reencrypt(new, context="c") == new
    assert crypto.blind_index("+8613800138000", context="c") == index
    # Pinned, the index key survives retiring k1.
    pinned = crypto.pinned(crypto.current_config())
    del pinned["keys"]["k1"]
    keys(pinned)
    assert crypto.blind_index("+8613800138000", context="c") == index
    assert crypto.decrypt(new, context="c") == "+8613800138000"


def test_blind_index_is_domain_separated_and_deterministic(keys):
    a = crypto.blind_index("+8613800138000", context="iam.membership.mobile")
    assert a == crypto.blind_index("+8613800138000", context="iam.membership.mobile")
    assert len(a) == 64
    assert a != crypto.blind_index("+8613800138000", context="cdp.identity.phone")
    assert a != crypto.blind_index("+8613800138001", context="iam.membership.mobile")


@pytest.mark.parametrize("conf, message", [
    ({"active": "k1", "keys": {"k1": K1, "k2": K2}}, "no index_key or index_key_id"),
    ({"active": "k3", "keys": {"k1": K1}}, "active field key id 'k3' is not among"),
    ({"active": "k1", "keys": {"k1": "not base64!"}}, "field key 'k1' is not valid base64"),
    ({"active": "k1", "keys": {"k1": base64.b64encode(b"short").decode()}}, "must be 32 bytes, got 5"),
    ({"active": "a:b", "keys": {"a:b": K1}}, "must be 1-32 letters"),
    ({"active": "k1", "keys": {"k1": K1}, "index_key": "AAAA"}, "index_key must be 32 bytes"),
    ({"active": "k1", "keys": {"k1": K1, "k2": K2}, "index_key_id": "k7"}, "index_key_id 'k7' is not among"),
    ({"keys": {}}, "SIYU_FIELD_KEYS must be"),
])
def test_bad_configuration_is_named(keys, conf, message):
    keys(conf)
    with pytest.raises(crypto.CryptoError, match=message):
        crypto.encrypt("x", context="c")


def test_embedded_key_file_rewrite_reaches_a_running_process(settings, tmp_path):
    settings.SIYU_FIELD_KEYS_FROM_ENV = False
    path = tmp_path / "field_keys.json"
    settings.SIYU_FIELD_KEYS_FILE = path
    first = {"active": "k1", "keys": {"k1": K1}}
    crypto.write_keys_file(path, first)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert crypto.active_key_id() == "k1"
    old = crypto.encrypt("x", context="c")
    crypto.write_keys_file(path, {"active": "k2", "keys": {"k1": K1, "k2": K2}, "index_key_id": "k1"})
    # settings still hold the start-up configuration; the rewritten file wins.
    assert crypto.active_key_id() == "k2"
    assert crypto.decrypt(old, context="c") == "x"
    assert json.loads(path.read_text())["active"] == "k2"
    with pytest.raises(crypto.CryptoError):
        crypto.write_keys_file(path, {"active": "k5", "keys": {"k1": K1}})
    assert crypto.active_key_id() == "k2"


def test_next_key_id_and_new_key():
    assert crypto.next_key_id({"k1": 1, "k2": 1, "legacy": 1}) == "k3"
    assert crypto.next_key_id({"main": 1}) == "k1"
    assert len(base64.b64decode(crypto.new_key())) == 32


@pytest.mark.parametrize("value, kind, masked", [
    ("+8613812345678", "phone", "138****5678"),
    ("13812345678", "phone", "138****5678"),
    ("010-1234567", "phone", "01***67"),
    ("123", "phone", "****"),
    ("Alice.W@Example.com", "email", "A***@Example.com"),
    ("no-at-sign", "email", "****"),
    ("张三", "text", "张*"),
    ("王", "text", "*"),
    ("a very long secret", "text", "a******"),
    ("anything", "unknown-kind", "a******"),
    ("", "phone", ""),
    (None, "phone", ""),
])
def test_masks(value, kind, masked):
    assert crypto.mask(value, kind) == masked
