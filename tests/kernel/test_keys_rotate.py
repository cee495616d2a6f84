"""`siyu keys rotate` and `siyu keys status` end to end on real memberships (columns and JSON custom fields)."""

from __future__ import annotations

import base64
import io
import json

import pytest
from django.core.management import CommandError, call_command

from siyu.iam import services as iam
from siyu.iam.models import Membership
from siyu.kernel import crypto, encrypted
from siyu.kernel.actor import Actor

K1 = base64.b64encode(bytes(range(32))).decode()
K2 = base64.b64encode(bytes(range(32, 64))).decode()
MOBILES = ["13800138000", "13900139001", "13700137002", "13600136003", "15000150004", "18600186005", "17700177006"]
E164 = [f"+86{m}" for m in MOBILES]
WECHAT = encrypted.json_context("iam.user", "wechat_phone")


@pytest.fixture
def keyfile(settings, tmp_path):
    """Embedded mode with a key file of its own (the suite's var/field_keys.json stays untouched)."""
    settings.SIYU_FIELD_KEYS_FROM_ENV = False
    path = tmp_path / "field_keys.json"
    settings.SIYU_FIELD_KEYS_FILE = path
    conf = {"active": "k1", "keys": {"k1": K1}}
    settings.SIYU_FIELD_KEYS = conf
    crypto.write_keys_file(path, conf)
    return path


@pytest.fixture
def custom_registered():
    try:
        return encrypted.json_column(Membership, "custom")
    except LookupError:  # platform registers standard objects' custom columns; until then, here
        return encrypted.register_json(Membership, column="custom", object_key="iam.user")


@pytest.fixture
def members(keyfile, custom_registered, admin_actor):
    """Seven members with mobiles, written both ways iam and kernel offer; three with a phone custom field."""
    out = []
    for i, mobile in enumerate(MOBILES):
        if i % 2:
            m = iam.add_member(actor=admin_actor, email=f"m{i}@acme.example", password=None, mobile=mobile)
        else:
            m = iam.add_member(actor=admin_actor, email=f"m{i}@acme.example", password=None)
            encrypted.set_encrypted(m, "mobile", mobile)
        if i < 3:
            sealed = encrypted.seal("phone", mobile, context=WECHAT)
            m.custom = {"wechat_phone": {"ct": sealed.envelope, "bi": sealed.index}, "note": "vip", "level": 3}
        m.save()
        out.append(m)
    return out


def rows(org) -> list[Membership]:
    return list(Membership.objects.in_org(Actor.system(org.pk)).exclude(mobile="").order_by("pk"))


def run(*args) -> str:
    out = io.StringIO()
    call_command("keys", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def assert_all_under(org, kid: str) -> None:
    got = rows(org)
    assert [m.mobile.split(":")[1] for m in got] == [kid] * len(MOBILES)
    assert [encrypted.reveal(m, "mobile") for m in got] == E164
    custom = [m for m in got if m.custom]
    assert [crypto.key_id_of(m.custom["wechat_phone"]["ct"]) for m in custom] == [kid] * 3
    assert [crypto.decrypt(m.custom["wechat_phone"]["ct"], context=WECHAT) for m in custom] == E164[:3]
    assert [(m.custom["note"], m.custom["level"]) for m in custom] == [("vip", 3)] * 3


def assert_lookups_still_work(org, members) -> None:
    qs = Membership.objects.in_org(Actor.system(org.pk))
    for m, raw in zip(members, MOBILES, strict=True):
        hit = qs.filter(mobile_index=encrypted.lookup(Membership, "mobile", raw)).values_list("pk", flat=True)
        assert list(hit) == [m.pk]
    for m, raw in zip(rows(org)[:3], MOBILES[:3], strict=True):
        assert m.custom["wechat_phone"]["bi"] == encrypted.lookup_value("phone", raw, context=WECHAT)


def test_rotate_end_to_end(org, members):
    assert_all_under(org, "k1")
    updated = [m.updated_at for m in rows(org)]
    out = run("rotate", "--batch-size", "3")
    conf = json.loads(crypto.keys_file().read_text())
    assert conf["active"] == "k2" and sorted(conf["keys"]) == ["k1", "k2"] and conf["keys"]["k1"] == K1
    assert conf["index_key"] == base64.b64encode(crypto._derive_index_key(bytes(range(32)))).decode()
    assert_all_under(org, "k2")
    assert_lookups_still_work(org, members)
    assert [m.updated_at for m in rows(org)] == updated  # re-encryption is not a business change
    lines = out.splitlines()
    assert lines[0] == f"new key k2 is active ({crypto.keys_file()}); older keys stay for decryption"
    mobile_progress = [line for line in lines if line.startswith("iam.Membership.mobile: ") and "/" in line]
    assert mobile_progress == ["iam.Membership.mobile: 0/7", "iam.Membership.mobile: 3/7",
                               "iam.Membership.mobile: 6/7", "iam.Membership.mobile: 7/7"]
    assert "iam.Membership.custom: 0/3" in lines and "iam.Membership.custom: 3/3" in lines
    assert "iam.Membership.mobile: 7 re-encrypted, 0 left under other keys" in lines
    assert "iam.Membership.custom: 3 re-encrypted, 0 left under other keys" in lines
    assert lines[-1] == "every value is under k2 (10 re-encrypted by this run)"

    status = run("status").splitlines()
    assert "iam.Membership.mobile: k2=7" in status
    assert "iam.Membership.custom: k2=3" in status
    assert "no value is under k1: `siyu keys rotate --retire KEY_ID` removes it" in status


def test_second_rotation_pass_is_a_no_op(org, members):
    run("rotate")
    envelopes = [(m.mobile, json.dumps(m.custom, sort_keys=True)) for m in rows(org)]
    out = run("rotate", "--no-new-key")
    assert "every value is under k2 (0 re-encrypted by this run)" in out
    assert [(m.mobile, json.dumps(m.custom, sort_keys=True)) for m in rows(org)] == envelopes
    rotated = encrypted.reencrypt_all().rotated
    assert (rotated["iam.Membership.mobile"], rotated["iam.Membership.custom"]) == (0, 0)
    assert json.loads(crypto.keys_file().read_text())["active"] == "k2"


def test_killed_rotation_resumes_and_retire_waits_for_it(org, members):
    conf = crypto.pinned(json.loads(crypto.keys_file().read_text()))
    conf["keys"]["k2"], conf["active"] = K2, "k2"
    crypto.write_keys_file(crypto.keys_file(), conf)

    def crash_after_two_batches(label, n):
        if n == 2:
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        encrypted.reencrypt_all(batch_size=2, after_batch=crash_after_two_batches)
    assert [m.mobile.split(":")[1] for m in rows(org)] == ["k2"] * 4 + ["k1"] * 3
    pending = encrypted.pending()
    assert (pending["iam.Membership.mobile"], pending["iam.Membership.custom"]) == (3, 3)
    assert sum(pending.values()) == 6  # other registered columns hold nothing in this test

    with pytest.raises(CommandError, match="6 values are still encrypted under k1"):
        run("rotate", "--retire", "k1")
    assert sorted(json.loads(crypto.keys_file().read_text())["keys"]) == ["k1", "k2"]

    out = run("rotate", "--batch-size", "2")  # resumes: no new key while values wait under an older one
    assert out.splitlines()[0] == "6 rows still hold values under older keys: finishing the rotation to k2 " \
                                  "(no new key; --force-new-key makes one anyway)"
    assert "iam.Membership.mobile: 4/7" in out
    assert "iam.Membership.mobile: 3 re-encrypted, 0 left under other keys" in out
    assert sorted(json.loads(crypto.keys_file().read_text())["keys"]) == ["k1", "k2"]
    assert_all_under(org, "k2")

    assert run("rotate", "--retire", "k1").strip() == f"retired k1 ({crypto.keys_file()})"
    conf = json.loads(crypto.keys_file().read_text())
    assert sorted(conf["keys"]) == ["k2"] and conf["active"] == "k2"
    assert_all_under(org, "k2")
    assert_lookups_still_work(org, members)


def test_retire_refuses_the_active_and_unknown_keys(keyfile):
    with pytest.raises(CommandError, match="k1 is the active key"):
        run("rotate", "--retire", "k1")
    with pytest.raises(CommandError, match="there is no key 'k7'"):
        run("rotate", "--retire", "k7")


def test_concurrent_write_wins_over_the_rotation(org, members):
    crypto.write_keys_file(crypto.keys_file(), {**crypto.pinned(json.loads(crypto.keys_file().read_text())),
                                                "active": "k2", "keys": {"k1": K1, "k2": K2}})
    target = encrypted._ColumnTarget(encrypted.column(Membership, "mobile"))
    stale = target.stale("k2").order_by("pk").first()
    concurrent = Membership.objects.in_org(Actor.system(org.pk)).get(pk=stale.pk)
    encrypted.set_encrypted(concurrent, "mobile", "13100131000")
    concurrent.save()
    assert target.swap(stale, crypto.reencrypt(stale.mobile, context="iam.membership.mobile")) == 0
    concurrent.refresh_from_db()
    assert encrypted.reveal(concurrent, "mobile") == "+8613100131000"


def test_undecryptable_values_are_reported_and_left_alone(org, members):
    impostor = "v1:k1:" + "A" * 60  # a text custom field that happens to look like an envelope
    m = members[4]
    Membership.objects.in_org(Actor.system(org.pk)).filter(pk=m.pk).update(custom={"note": impostor})
    with pytest.raises(CommandError, match=rf"values that do not decrypt stay as they are: iam.Membership.custom rows \[{m.pk}\]"):
        run("rotate")
    m.refresh_from_db()
    assert m.custom == {"note": impostor}
    assert [r.mobile.split(":")[1] for r in rows(org)] == ["k2"] * 7
    with pytest.raises(CommandError, match="1 values are still encrypted under k1"):
        run("rotate", "--retire", "k1")


def test_status_counts_values_per_key_and_clear_text(org, members):
    Membership.objects.in_org(Actor.system(org.pk)).filter(pk=members[0].pk).update(mobile="13800138000")
    out = run("status").splitlines()
    assert out[0] == f"keys from: {crypto.keys_file()}"
    assert out[1] == "active key: k1; configured: k1; blind-index key: derived from k1"
    assert "iam.Membership.mobile: (not encrypted)=1 k1=6" in out
    assert "iam.Membership.custom: k1=3" in out
    assert "total: (not encrypted)=1 k1=9" in out


def test_environment_keys_rotate_under_the_env_active_key(settings, org, custom_registered, admin_actor):
    settings.SIYU_FIELD_KEYS_FROM_ENV = True
    settings.SIYU_FIELD_KEYS = {"active": "k1", "keys": {"k1": K1}}
    m = iam.add_member(actor=admin_actor, email="env@acme.example", password=None, mobile="13800138000")
    out = run("rotate")
    assert out.startswith("Every encrypted value is already under the active key k1, the only key in use. "
                          "To rotate: add a new key to SIYU_FIELD_KEYS")
    m.refresh_from_db()
    assert m.mobile.startswith("v1:k1:")

    settings.SIYU_FIELD_KEYS = {"active": "k2", "keys": {"k1": K1, "k2": K2}, "index_key_id": "k1"}
    out = run("rotate")
    assert "new key" not in out and out.splitlines()[-1] == "every value is under k2 (1 re-encrypted by this run)"
    m.refresh_from_db()
    assert m.mobile.startswith("v1:k2:") and encrypted.reveal(m, "mobile") == "+8613800138000"
    assert m.mobile_index == encrypted.lookup(Membership, "mobile", "138 0013 8000")

    with pytest.raises(CommandError, match="the blind-index key is derived from k1"):
        run("rotate", "--retire", "k1")
    index_key = run("status", "--print-index-key").splitlines()[-1].removeprefix("index_key: ")
    settings.SIYU_FIELD_KEYS = {"active": "k2", "keys": {"k1": K1, "k2": K2}, "index_key": index_key}
    assert run("rotate", "--retire", "k1").strip() == "No value is left under k1: remove it from SIYU_FIELD_KEYS on every host."
    settings.SIYU_FIELD_KEYS = {"active": "k2", "keys": {"k2": K2}, "index_key": index_key}
    assert m.mobile_index == encrypted.lookup(Membership, "mobile", "13800138000")
    assert encrypted.reveal(m, "mobile") == "+8613800138000"


def test_rows_whose_context_comes_from_a_related_row_rotate(keyfile, org):
    """Custom records of many objects share one table: the context is read through the row's object."""
    from siyu.platform.models import CustomRecord, ObjectDefinition

    spec = encrypted.json_column(CustomRecord, "data")
    deal = ObjectDefinition.objects.create(org=org, key="custom.deal", label="Deal", scope_key="custom.deal")
    context = encrypted.json_context("custom.deal", "contact_phone")
    sealed = encrypted.seal("phone", "13800138000", context=context)
    record = CustomRecord.objects.create(org=org, object=deal, data={"contact_phone": {"ct": sealed.envelope,
                                                                                       "bi": sealed.index}})
    run("rotate")
    record.refresh_from_db()
    assert spec.context_of(record, "contact_phone") == "platform:custom.deal:contact_phone"
    assert crypto.key_id_of(record.data["contact_phone"]["ct"]) == "k2"
    assert crypto.decrypt(record.data["contact_phone"]["ct"], context=context) == "+8613800138000"
    assert record.data["contact_phone"]["bi"] == sealed.index
