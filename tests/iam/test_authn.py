from __future__ import annotations

import datetime as dt

import pyotp
import pytest
import time_machine
from django.contrib.sessions.models import Session
from django.test import Client, override_settings

from siyu.audit.models import AuditLogEntry
from siyu.iam import authn, services
from siyu.iam.models import Organization, User, UserSession
from siyu.kernel import clock
from siyu.kernel.errors import ValidationFailed

PASSWORD = "correct horse battery staple"  # the shared fixtures' password
START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def _login(client, email, password=PASSWORD, **extra):
    return client.post("/login/", {"email": email, "password": password}, **extra)


def test_login_rotates_the_session_key_and_records_a_server_side_session(admin_membership):
    c = Client()
    c.get("/login/")
    c.session.save()
    before = c.session.session_key
    r = _login(c, admin_membership.user.email, REMOTE_ADDR="10.1.2.3")
    assert r.status_code == 302 and r["Location"] == "/"
    after = c.cookies["sessionid"].value
    assert after != before
    rec = UserSession.objects.get()
    assert (rec.session_key, rec.user_id, rec.membership_id, rec.ip) == (
        after, admin_membership.user_id, admin_membership.pk, "10.1.2.3")
    entry = AuditLogEntry.objects.get(action="login")
    assert (entry.org_id, entry.actor_user_id, entry.ip) == (admin_membership.org_id, admin_membership.user_id, "10.1.2.3")
    assert c.get("/iam/users/").status_code == 200


def test_wrong_password_is_generic_and_audited_without_an_organisation(admin_membership):
    c = Client()
    r1 = _login(c, admin_membership.user.email, "wrong password!")
    r2 = _login(c, "nobody@nowhere.example", "wrong password!")
    assert r1.status_code == r2.status_code == 200
    assert "sessionid" not in c.cookies or not Session.objects.exists()
    message = "邮箱或密码不正确"
    assert message in r1.content.decode() and message in r2.content.decode()
    rows = list(AuditLogEntry.objects.filter(action="login_failed").values_list("org_id", "actor_user_id", "meta"))
    assert rows == [
        (None, admin_membership.user_id, {"email": "a***@acme.example", "reason": "bad_password"}),
        (None, None, {"email": "n***@nowhere.example", "reason": "unknown_email"}),
    ]


@override_settings(SIYU_LOGIN_MAX_FAILURES=3, SIYU_LOGIN_LOCK_SECONDS=600)
def test_lockout_per_email_even_with_the_right_password_until_the_window_passes(admin_membership):
    email = admin_membership.user.email
    with time_machine.travel(START, tick=False):
        c = Client()
        for _ in range(3):
            assert _login(c, email, "wrong password!").status_code == 200
        assert AuditLogEntry.objects.filter(action="lockout").values_list("meta", flat=True).get() == {
            "email": "a***@acme.example", "counter": "email"}
        r = _login(c, email)
        assert r.status_code == 429
        assert not UserSession.objects.exists()
    with time_machine.travel(START + dt.timedelta(seconds=601), tick=False):
        assert _login(Client(), email).status_code == 302


@override_settings(SIYU_LOGIN_MAX_FAILURES=2, SIYU_LOGIN_MAX_FAILURES_PER_IP=3, SIYU_LOGIN_LOCK_SECONDS=600)
def test_lockout_per_ip_across_emails(admin_membership):
    c = Client()
    for i in range(3):
        _login(c, f"guess{i}@acme.example", "wrong password!", REMOTE_ADDR="10.9.9.9")
    assert _login(c, admin_membership.user.email, REMOTE_ADDR="10.9.9.9").status_code == 429
    assert _login(Client(), admin_membership.user.email, REMOTE_ADDR="10.9.9.10").status_code == 302


def test_logout_ends_the_session_on_the_server(admin_membership):
    c = Client()
    _login(c, admin_membership.user.email)
    key = c.cookies["sessionid"].value
    stolen = Client()
    stolen.cookies["sessionid"] = key
    r = c.post("/logout/")
    assert r.status_code == 302
    rec = UserSession.objects.get()
    assert rec.ended_reason == "logout" and rec.ended_at is not None
    assert not Session.objects.filter(session_key=key).exists()
    assert stolen.get("/iam/users/").status_code == 302
    assert AuditLogEntry.objects.filter(action="logout").values_list("org_id", flat=True).get() == admin_membership.org_id


def test_idle_timeout_ends_the_session(admin_membership, settings):
    settings.SIYU_SESSION_IDLE_SECONDS = 1800
    with time_machine.travel(START, tick=False) as t:
        c = Client()
        _login(c, admin_membership.user.email)
        t.shift(dt.timedelta(minutes=29))
        assert c.get("/iam/users/").status_code == 200
        t.shift(dt.timedelta(minutes=31))
        r = c.get("/iam/users/")
        assert r.status_code == 302 and r["Location"] == "/login/?expired=idle"
    assert UserSession.objects.get().ended_reason == "idle_timeout"


def test_absolute_timeout_ends_an_active_session(admin_membership, settings):
    settings.SIYU_SESSION_IDLE_SECONDS = 1800
    with time_machine.travel(START, tick=False) as t:
        c = Client()
        _login(c, admin_membership.user.email)
        # The policy reads the limit per request; the cookie itself (12 h) stays valid, so this is the middleware.
        settings.SESSION_COOKIE_AGE = 3600
        for _ in range(3):
            t.shift(dt.timedelta(minutes=19))
            assert c.get("/iam/users/").status_code == 200
        t.shift(dt.timedelta(minutes=4))
        r = c.get("/iam/users/")
        assert r["Location"] == "/login/?expired=absolute"
    assert UserSession.objects.get().ended_reason == "absolute_timeout"


def test_disabling_a_member_logs_them_out_at_once(org, admin_actor, make_member, audit_rows):
    m = make_member(org, "rep@acme.example")
    c = Client()
    _login(c, "rep@acme.example")
    key = c.cookies["sessionid"].value
    assert c.get("/").status_code == 200
    services.disable_member(actor=admin_actor, membership_id=m.pk)
    assert not Session.objects.filter(session_key=key).exists()
    rec = UserSession.objects.get(user=m.user)
    assert rec.ended_reason == "member_disabled"
    assert c.get("/").status_code == 302
    assert _login(Client(), "rep@acme.example").status_code == 200  # no active membership left
    assert audit_rows("disable")[-1][2] == {"is_active": [True, False]}


def test_disabling_in_one_org_ends_only_the_sessions_acting_there(org, admin_actor, make_org):
    globex = make_org("Globex")
    in_acme = services.add_member(actor=admin_actor, email=globex.user.email)
    in_globex, in_acme_too = Client(), Client()
    _login(in_globex, globex.user.email)
    assert in_globex.post("/switch-org/", {"org": globex.org_id}).status_code == 302
    _login(in_acme_too, globex.user.email)
    assert in_acme_too.post("/switch-org/", {"org": org.pk}).status_code == 302
    services.disable_member(actor=admin_actor, membership_id=in_acme.pk)
    assert in_globex.get("/").status_code == 200
    assert in_acme_too.get("/").status_code == 302
    assert sorted(UserSession.objects.values_list("membership_id", "ended_reason")) == sorted(
        [(globex.pk, ""), (in_acme.pk, "member_disabled")])


# --- TOTP ---------------------------------------------------------------------------------------------------


def _enrol(user, actor):
    secret = authn.begin_totp_enrolment(user=user)
    with time_machine.travel(START - dt.timedelta(minutes=5), tick=False):
        authn.confirm_totp_enrolment(actor=actor, user=user, code=pyotp.TOTP(secret).at(clock.now()))
    user.refresh_from_db()
    return secret


def test_totp_secret_is_stored_encrypted(admin_membership, admin_actor):
    user = admin_membership.user
    secret = _enrol(user, admin_actor)
    assert user.has_totp and user.totp_secret.startswith("v1:") and secret not in user.totp_secret


def test_login_with_totp_is_two_steps_and_codes_are_single_use(admin_membership, admin_actor):
    user = admin_membership.user
    secret = _enrol(user, admin_actor)
    with time_machine.travel(START, tick=False):
        code = pyotp.TOTP(secret).at(clock.now())
        c = Client()
        r = _login(c, user.email)
        assert r.status_code == 302 and r["Location"] == "/login/verify/"
        assert c.get("/iam/users/").status_code == 302  # not signed in yet
        assert not UserSession.objects.exists()
        assert c.post("/login/verify/", {"code": "000000" if code != "000000" else "111111"}).status_code == 200
        r = c.post("/login/verify/", {"code": code})
        assert r.status_code == 302 and r["Location"] == "/"
        assert c.get("/iam/users/").status_code == 200
        # the same code cannot be used again
        c2 = Client()
        _login(c2, user.email)
        assert c2.post("/login/verify/", {"code": code}).status_code == 200
        assert UserSession.objects.count() == 1
    assert AuditLogEntry.objects.filter(action="login_failed").values_list("meta__reason", flat=True).count() == 2


def test_pending_second_factor_expires(admin_membership, admin_actor):
    user = admin_membership.user
    secret = _enrol(user, admin_actor)
    with time_machine.travel(START, tick=False) as t:
        c = Client()
        _login(c, user.email)
        t.shift(dt.timedelta(seconds=authn.PENDING_SECONDS + 1))
        r = c.post("/login/verify/", {"code": pyotp.TOTP(secret).at(clock.now())})
        assert r.status_code == 302 and r["Location"] == "/login/"
    assert not UserSession.objects.exists()


def test_admins_must_enrol_when_the_org_requires_it(admin_membership, admin_actor, make_member):
    Organization.objects.filter(pk=admin_membership.org_id).update(require_admin_2fa=True)
    rep = make_member(admin_membership.org, "rep@acme.example", permissions=["iam.user.read"])
    c = Client()
    _login(c, admin_membership.user.email)
    r = c.get("/iam/users/")
    assert r.status_code == 302 and r["Location"] == "/account/security/?required=1"
    assert c.get("/api/v1/iam/users").json()["code"] == "second_factor_required"
    page = c.get("/account/security/")
    assert page.status_code == 200
    c.post("/account/security/", {"action": "start"})
    user = User.objects.get(pk=admin_membership.user_id)
    secret = authn.pending_totp_secret(user)
    assert 'data-testid="totp-qr"' in c.get("/account/security/").content.decode()
    r = c.post("/account/security/", {"action": "confirm", "code": pyotp.TOTP(secret).now()})
    assert r.status_code == 302
    assert c.get("/iam/users/").status_code == 200
    # non-administrators are not forced
    c2 = Client()
    _login(c2, rep.user.email)
    assert c2.get("/iam/users/").status_code == 200


def test_disabling_totp_needs_a_current_code(admin_membership, admin_actor):
    user = admin_membership.user
    secret = _enrol(user, admin_actor)
    with pytest.raises(ValidationFailed):
        authn.disable_totp(actor=admin_actor, user=user, code="123")
    assert User.objects.get(pk=user.pk).has_totp
    authn.disable_totp(actor=admin_actor, user=user, code=pyotp.TOTP(secret).now())
    assert not User.objects.get(pk=user.pk).has_totp
