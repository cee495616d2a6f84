from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from siyu.iam.auth import lookup_api_key
from siyu.iam.models import ApiKey, Membership, Organization


def _run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_createorg_prints_id_and_slug(db):
    out, _ = _run("createorg", "--name", "Hua Tai Trading", "--admin-email", "Boss@HuaTai.example",
                  "--admin-password", "a long enough passphrase")
    org = Organization.objects.get()
    assert out.strip() == f"id={org.pk} slug=hua-tai-trading"
    m = Membership.objects.get(org=org)
    assert m.user.email == "boss@huatai.example" and m.roles.get().is_admin
    assert m.user.check_password("a long enough passphrase")


@pytest.mark.parametrize("args, message", [
    (["--name", " ", "--admin-email", "a@b.example", "--admin-password", "a long enough passphrase"], "name"),
    (["--name", "X", "--admin-email", "not-an-email", "--admin-password", "a long enough passphrase"], "admin_email"),
    (["--name", "X", "--admin-email", "a@b.example", "--admin-password", "short"], "admin_password"),
])
def test_createorg_refuses_bad_input(db, args, message):
    with pytest.raises(CommandError, match=message):
        _run("createorg", *args)
    assert not Organization.objects.exists()


def test_createorg_exits_non_zero_from_the_command_line(db, capsys):
    from siyu.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["createorg", "--name", "X", "--admin-email", "bad", "--admin-password", "a long enough passphrase"])
    assert exc.value.code == 1
    assert "admin_email" in capsys.readouterr().err


def test_apikey_create_by_slug_or_id_prints_the_key_once(org):
    out, err = _run("apikey", "create", "--org", org.slug, "--name", "ERP", "--scopes", "iam.user.read, iam.department.*")
    raw = out.strip()
    key = ApiKey.objects.get(name="ERP")
    assert key.scopes == ["iam.department.*", "iam.user.read"]
    assert lookup_api_key(raw)[0].org_id == org.pk
    assert raw not in err
    out, _ = _run("apikey", "create", "--org", str(org.pk), "--name", "BI", "--scopes", "*")
    assert lookup_api_key(out.strip())[0].permissions == frozenset({"*"})
    listing, _ = _run("apikey", "list", "--org", org.slug)
    assert raw not in listing and f"{key.prefix}\tactive\tERP" in listing
    _run("apikey", "revoke", "--org", org.slug, "--prefix", key.prefix)
    assert lookup_api_key(raw)[0] is None


def test_apikey_refuses_bad_input(org):
    with pytest.raises(CommandError, match="no organisation"):
        _run("apikey", "create", "--org", "nope", "--name", "x", "--scopes", "*")
    with pytest.raises(CommandError, match="unknown permission"):
        _run("apikey", "create", "--org", org.slug, "--name", "x", "--scopes", "made.up.scope")
    with pytest.raises(CommandError, match="scopes"):
        _run("apikey", "create", "--org", org.slug, "--name", "x", "--scopes", " , ")
    assert not ApiKey.objects.exists()


def test_worker_nice_option_is_taken_out_of_hueys_arguments_and_checked(monkeypatch):
    from siyu.cli import worker_niceness

    monkeypatch.delenv("SIYU_WORKER_NICE", raising=False)
    assert worker_niceness(["-w", "4"]) == (10, ["-w", "4"])
    assert worker_niceness(["--nice", "0", "-w", "4"]) == (0, ["-w", "4"])
    monkeypatch.setenv("SIYU_WORKER_NICE", "5")
    assert worker_niceness([]) == (5, [])
    with pytest.raises(SystemExit):
        worker_niceness(["--nice", "25"])
