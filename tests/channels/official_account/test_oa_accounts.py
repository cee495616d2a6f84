"""Connecting an account (service, command, console), secrets at rest, and the console pages in both languages."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from siyu.channels.official_account import accounts
from siyu.channels.official_account.models import Account
from siyu.kernel.actor import Actor
from siyu.kernel.errors import Conflict, PermissionDenied, ValidationFailed

pytestmark = pytest.mark.django_db

KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
GOOD = {"appid": "wxaccounttest0001", "secret": "appsecret-value-0001", "callback_token": "tok123",
        "encoding_aes_key": KEY, "api_base": "http://127.0.0.1:8300/cgi-bin"}  # fmt: skip


def test_the_command_connects_an_account_and_prints_its_callback_url(org):
    out = io.StringIO()
    call_command("oa", "add-account", "--org", str(org.pk), "--app-id", "wxcli000000000001", "--token", "tok123",
                 "--aes-key", KEY, "--secret", "cli-secret-1", "--api-base", "http://127.0.0.1:8300/cgi-bin/",
                 "--public-url", "https://siyu.example.com", stdout=out)  # fmt: skip
    account = Account.objects.in_org(Actor.system(org.pk)).get(appid="wxcli000000000001")
    assert out.getvalue().splitlines() == [
        f"account=wxcli000000000001 id={account.pk}",
        f"callback_url=https://siyu.example.com/oa/callback/{account.callback_key}/"]
    assert account.api_base == "http://127.0.0.1:8300/cgi-bin/"
    with pytest.raises(CommandError, match="already connected"):
        call_command("oa", "add-account", "--org", str(org.pk), "--app-id", "wxcli000000000001", "--token", "tok123",
                     "--aes-key", KEY, "--secret", "x", stdout=io.StringIO())  # fmt: skip


def test_secrets_are_encrypted_at_rest_and_read_back(org):
    account = accounts.add_account(actor=Actor.system(org.pk), data=GOOD)
    with connection.cursor() as cur:
        cur.execute("SELECT secret, callback_token, encoding_aes_key FROM official_account_account WHERE id = %s",
                    [account.pk])  # fmt: skip
        stored = " ".join(cur.fetchone())
    assert "appsecret-value-0001" not in stored and KEY not in stored and "tok123" not in stored
    account.refresh_from_db()
    assert accounts.crypto_for(account).receive_id == "wxaccounttest0001"
    assert accounts.client_for(account)._secret == "appsecret-value-0001"


def test_every_bad_setting_is_reported_per_field_and_nothing_is_written(org):
    with pytest.raises(ValidationFailed) as err:
        accounts.add_account(actor=Actor.system(org.pk), data={
            "appid": "wx bad", "secret": "", "callback_token": "x", "encoding_aes_key": "short",
            "api_base": "ftp://nope", "template_field": "9bad"})  # fmt: skip
    assert set(err.value.fields) == {"appid", "secret", "callback_token", "encoding_aes_key", "api_base",
                                     "template_field"}  # fmt: skip
    assert not Account.objects.unscoped_all_orgs().exists()


def test_a_second_connection_of_the_same_appid_conflicts(org):
    accounts.add_account(actor=Actor.system(org.pk), data=GOOD)
    with pytest.raises(Conflict):
        accounts.add_account(actor=Actor.system(org.pk), data=GOOD)


def test_connecting_needs_the_permission(org, make_member):
    from siyu.iam.selectors import actor_for_membership

    member = make_member(org, "reader@example.com", permissions=("channels.official_account.read",))
    with pytest.raises(PermissionDenied):
        accounts.add_account(actor=actor_for_membership(member), data=GOOD)
    assert not Account.objects.unscoped_all_orgs().exists()


def test_another_organisations_account_is_not_found(org, make_org):
    other = make_org("Other")
    account = accounts.add_account(actor=Actor.system(org.pk), data=GOOD)
    from siyu.kernel.errors import NotFound

    with pytest.raises(NotFound):
        accounts.account_of(Actor.system(other.pk), account.pk)


@pytest.mark.parametrize(("language", "texts"), [
    ("zh-hans", ["公众号", "回调地址", "接入公众号"]),
    ("en", ["Official account", "Callback URL", "Connect an official account"]),
])  # fmt: skip
def test_console_pages_in_both_languages(org, admin_membership, login_client, language, texts):
    account = accounts.add_account(actor=Actor.system(org.pk), data=GOOD)
    client = login_client(admin_membership)
    client.cookies["django_language"] = language
    page = client.get("/channels/official-account/")
    assert page.status_code == 200
    html = page.content.decode()
    assert all(t in html for t in texts), texts
    assert f"/oa/callback/{account.callback_key}/" in html
    for path in ("qr-codes/", "followers/", "callbacks/", "accounts/new/"):
        assert client.get(f"/channels/official-account/{path}").status_code == 200


def test_console_connect_form_refuses_bad_input_and_keeps_nothing(org, admin_membership, login_client):
    client = login_client(admin_membership)
    answer = client.post("/channels/official-account/accounts/new/", {**GOOD, "encoding_aes_key": "short"})
    assert answer.status_code == 422 and "encoding_aes_key" in answer.content.decode()
    assert "appsecret-value-0001" not in answer.content.decode()
    assert not Account.objects.unscoped_all_orgs().exists()
    answer = client.post("/channels/official-account/accounts/new/", GOOD)
    assert answer.status_code == 302 and Account.objects.unscoped_all_orgs().count() == 1


def test_console_refuses_members_without_the_permission(org, make_member, login_client):
    member = make_member(org, "nobody@example.com", permissions=("cdp.profile.read",))
    client = login_client(member)
    assert client.get("/channels/official-account/").status_code == 403
    assert client.post("/channels/official-account/accounts/new/", GOOD).status_code == 403
    assert not Account.objects.unscoped_all_orgs().exists()
