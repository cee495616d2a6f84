"""The import's fast paths give exactly what the slow ones give: e-mail normalisation, sealing, identifier
hashing, and reading a chunk ahead in a second thread."""

from __future__ import annotations

import base64
import os
import pickle
import random
import subprocess
import sys
import threading

import pytest

from siyu.cdp.identifiers import Identifier, normalise
from siyu.cdp.importing import prefetch, readers
from siyu.cdp.importing.identities import Sealer, fast_email, normalise_fast
from siyu.kernel import crypto
from siyu.kernel.errors import ValidationFailed

EMAILS = [
    "p1.2345@mail.example.cn", "  Zhang.San@Example.COM ", "a+b_c%d-e@sub-domain.example.org", "x@y.co",
    "a@b.c", "a@b.c1", "a..b@example.com", ".a@example.com", "a.@example.com", "a@-example.com",
    "a@example-.com", "a@example..com", "a@example.com.", "a@localhost", "a@[127.0.0.1]", '"a b"@example.com',
    "a@b@example.com", "@example.com", "a@", "a", "张三@例子.中国", "ａ@example.com", "a@xn--fiqs8s.xn--fiqz9s",
    "a@example.x-y", "a@example.-xy", "o'brien@example.ie", "a{b}@example.com", "a@exa_mple.com",
    "a@" + "b" * 63 + ".com", "a@" + "b" * 64 + ".com", "a" * 300 + "@example.com", "a" * 310 + "@example.com",
    "a@example.com\n", "a\t@example.com", "A@EXAMPLE.COM",
]


def _slow(type_: str, raw: str) -> str | None:
    try:
        return normalise(type_, raw).value
    except ValidationFailed:
        return None


def _fuzzed(n: int) -> list[str]:
    """Addresses near the edge of the fast path: mostly plain characters, sometimes odd ones."""
    rng = random.Random(5)

    def text(plain: str, odd: str, longest: int) -> str:
        return "".join(rng.choice(odd if rng.random() < 0.05 else plain) for _ in range(rng.randrange(0, longest)))

    out = []
    for _ in range(n):
        local = text("aZ9._+-%", "'\"[]{}! \tａ张@", 6)
        labels = [text("ab9-", "_.Z ａ", 5) for _ in range(rng.randrange(1, 4))]
        out.append(f"{local}@{'.'.join(labels)}.{text('abZ', '-9.', 4)}")
    return out


@pytest.mark.parametrize("raw", EMAILS)
def test_fast_email_agrees_with_the_identifier_rules(raw):
    fast = fast_email(raw)
    assert fast is None or fast == _slow("email", raw)


def test_fast_email_takes_the_usual_addresses():
    assert fast_email("  Zhang.San@Example.COM ") == "zhang.san@example.com"
    assert fast_email("p1.2345@mail.example.cn") == "p1.2345@mail.example.cn"
    assert fast_email("张三@例子.中国") is None  # left to the full rules


def test_fast_email_agrees_on_fuzzed_addresses():
    taken = 0
    for raw in _fuzzed(4000):
        fast = fast_email(raw)
        if fast is not None:
            taken += 1
            assert fast == _slow("email", raw), raw
    assert taken > 50  # the fuzz does reach the fast path


@pytest.mark.parametrize("type_", ["email", "phone"])
def test_normalise_fast_gives_the_same_identifier_or_the_same_refusal(type_):
    samples = EMAILS if type_ == "email" else ["13800138000", "+86 138 0013 8000", "010-6552 9988", "12345", ""]
    for raw in samples:
        try:
            expected = normalise(type_, raw)
        except ValidationFailed as exc:
            with pytest.raises(ValidationFailed) as got:
                normalise_fast(type_, raw)
            assert got.value.fields == exc.fields
        else:
            assert normalise_fast(type_, raw) == expected


def test_sealer_matches_kernel_crypto():
    sealer = Sealer()
    for ident in [Identifier("phone", "+8613800138000"), Identifier("email", "a@example.cn"),
                  Identifier("openid", "o123", "wx1"), Identifier("openid", "o123", "wx2")]:
        assert sealer.index(ident) == ident.index
        assert sealer.index(ident) == sealer.index(ident)  # cached
        token = sealer.encrypt(ident)
        assert crypto.decrypt(token, context=f"cdp.identity.{ident.type}") == ident.value
        assert crypto.key_id_of(token) == crypto.active_key_id()


def test_identifier_equality_and_hash():
    a, b = Identifier("phone", "+8613800138000"), Identifier("phone", "+8613800138000")
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != Identifier("phone", "+8613800138000", "ns") and a != Identifier("email", "+8613800138000")
    assert a != ("phone", "+8613800138000", "")  # not a tuple
    assert {a: 1}[b] == 1
    assert repr(a) == "Identifier(type='phone', value='+8613800138000', namespace='')"
    with pytest.raises(AttributeError):
        a.value = "x"  # frozen


def test_identifier_survives_pickling_into_another_process():
    """Its hash is computed at construction: a pickled one is rebuilt, not carried over (string hashes are
    salted per process)."""
    ident = Identifier("email", "a@example.cn")
    code = ("import django, pickle, sys; django.setup(); from siyu.cdp.identifiers import Identifier; "
            "d = pickle.loads(sys.stdin.buffer.read()); print(d[Identifier('email', 'a@example.cn')])")
    env = {**os.environ, "PYTHONHASHSEED": "12345", "DJANGO_SETTINGS_MODULE": "siyu.settings"}
    out = subprocess.run([sys.executable, "-c", code], input=pickle.dumps({ident: 42}), capture_output=True,
                         check=True, env=env)
    assert out.stdout.strip() == b"42"
    assert pickle.loads(pickle.dumps(ident)) == ident


# --- reading ahead --------------------------------------------------------------------------------------


def _records(n: int, fail_at: int | None = None):
    for i in range(1, n + 1):
        if i == fail_at:
            raise ValueError(f"broken at {i}")
        yield readers.Record(i + 1, [str(i)], blank=i % 7 == 0)


def _collect(n: int, skip: int, size: int, background: bool):
    prepare = lambda rec: None if rec.blank else int(rec.cells[0]) * 2  # noqa: E731
    return [([(r.line, p) for r, p in chunk], last)
            for chunk, last in prefetch.chunks(_records(n), skip=skip, size=size, prepare=prepare,
                                               background=background)]


@pytest.mark.parametrize(("n", "skip", "size"), [(0, 0, 5), (10, 0, 5), (12, 0, 5), (12, 5, 5), (12, 7, 5),
                                                 (3, 10, 5), (1000, 333, 64)])
def test_reading_ahead_gives_the_chunks_the_runner_would_make(n, skip, size):
    inline = _collect(n, skip, size, background=False)
    assert _collect(n, skip, size, background=True) == inline
    assert [last for _, last in inline] == [False] * (len(inline) - 1) + [True]
    assert [line for chunk, _ in inline for line, _ in chunk] == list(range(skip + 2, n + 2))
    assert all(len(chunk) == size for chunk, last in inline if not last)


def test_a_reading_error_surfaces_after_the_chunks_before_it():
    got = []
    ahead = prefetch.chunks(_records(100, fail_at=23), skip=0, size=10, prepare=lambda rec: None, background=True)
    with pytest.raises(ValueError, match="broken at 23"):
        for chunk, _ in ahead:
            got.append(len(chunk))
    assert got == [10, 10]


def test_stopping_early_ends_the_reader():
    before = threading.active_count()
    ahead = prefetch.chunks(_records(10_000), skip=0, size=10, prepare=lambda rec: None, background=True)
    next(ahead)
    ahead.close()
    assert threading.active_count() == before


# --- the key ring: its file's path is remembered, its content is not --------------------------------------

K1, K2, K3 = (base64.b64encode(bytes(range(n, n + 32))).decode() for n in (0, 32, 64))


def test_a_rotation_reaches_the_next_sealer_and_a_changed_setting_is_followed(settings, tmp_path):
    settings.SIYU_FIELD_KEYS_FROM_ENV = False
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    settings.SIYU_FIELD_KEYS_FILE = first
    crypto.write_keys_file(first, {"active": "k1", "keys": {"k1": K1}})
    assert crypto.keys_file() == first
    ident = Identifier("phone", "+8613800138000")
    before = Sealer()
    old = before.encrypt(ident)
    assert crypto.key_id_of(old) == "k1"
    # ``siyu keys rotate`` rewrites the file: the next call and the next chunk's sealer use the new key
    crypto.write_keys_file(first, {"active": "k2", "keys": {"k1": K1, "k2": K2}, "index_key_id": "k1"})
    assert crypto.active_key_id() == "k2"
    after = Sealer()
    assert crypto.key_id_of(after.encrypt(ident)) == "k2"
    assert after.index(ident) == before.index(ident) == ident.index  # the blind index survives rotation
    assert crypto.decrypt(old, context="cdp.identity.phone") == ident.value
    # another key file named in the settings is followed at once, and so is the switch to environment keys
    crypto.write_keys_file(second, {"active": "k3", "keys": {"k3": K3}})
    settings.SIYU_FIELD_KEYS_FILE = second
    assert crypto.keys_file() == second
    assert crypto.active_key_id() == "k3"
    settings.SIYU_FIELD_KEYS_FROM_ENV = True
    settings.SIYU_FIELD_KEYS = {"active": "k1", "keys": {"k1": K1}}
    assert crypto.keys_file() is None
    assert crypto.active_key_id() == "k1"
