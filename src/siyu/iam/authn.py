"""Console authentication: password check with throttling and lock-out, the optional TOTP second factor,
completing a login (session rotation plus a server-side ``UserSession``), logout, and the organisation switch.

Failure counters live in the Django cache per email and per client IP for ``SIYU_LOGIN_LOCK_SECONDS``;
reaching ``SIYU_LOGIN_MAX_FAILURES`` (per email) or ``SIYU_LOGIN_MAX_FAILURES_PER_IP`` (default four times
that, because offices share one address) locks further attempts until the window passes, even with the right
password. Every outcome is audited: ``login``, ``login_failed``, ``lockout``, ``logout``.
"""

from __future__ import annotations

import hashlib
import hmac

import pyotp
import segno
from django.conf import settings
from django.contrib.auth import login as django_login
from django.contrib.auth import logout as django_logout
from django.core.cache import cache
from django.http import HttpRequest

from siyu.kernel import auditing, clock, crypto
from siyu.kernel.actor import Actor
from siyu.kernel.auditing import AuditEntry
from siyu.kernel.errors import Conflict, DomainError, NotFound, ValidationFailed

from .models import Membership, User
from .selectors import memberships_of
from .sessions import client_ip, current_session, mark_ended, move_session, start_session

TOTP_CONTEXT = "iam.user.totp_secret"
TOTP_ISSUER = "Siyu"
PENDING_KEY = "iam_pending_2fa"  # session key holding the user who passed the password step
PENDING_SECONDS = 300


class LoginFailed(DomainError):
    status = 400
    code = "login_failed"


class LoginLocked(DomainError):
    status = 429
    code = "login_locked"


# --- throttling ---------------------------------------------------------------------------------------------


def _limits() -> tuple[int, int, int]:
    per_email = int(settings.SIYU_LOGIN_MAX_FAILURES)
    per_ip = int(getattr(settings, "SIYU_LOGIN_MAX_FAILURES_PER_IP", per_email * 4))
    return per_email, per_ip, int(settings.SIYU_LOGIN_LOCK_SECONDS)


def _counter_keys(email: str, ip: str | None) -> dict[str, str]:
    digest = hashlib.sha256(email.encode()).hexdigest()[:32]  # no personal data in cache keys
    keys = {"email": f"iam:login-fail:email:{digest}"}
    if ip:
        keys["ip"] = f"iam:login-fail:ip:{ip}"
    return keys


def is_locked(email: str, ip: str | None) -> bool:
    per_email, per_ip, _ = _limits()
    keys = _counter_keys(email, ip)
    counts = cache.get_many(list(keys.values()))
    if counts.get(keys["email"], 0) >= per_email:
        return True
    return "ip" in keys and counts.get(keys["ip"], 0) >= per_ip


def _count_failure(email: str, ip: str | None) -> list[str]:
    """Add one failure to each counter; returns the counters that have just reached their limit."""
    per_email, per_ip, window = _limits()
    reached = []
    for kind, key in _counter_keys(email, ip).items():
        cache.add(key, 0, timeout=window)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=window)
            count = 1
        if count == (per_email if kind == "email" else per_ip):
            reached.append(kind)
    return reached


def _clear_email_failures(email: str) -> None:
    cache.delete(_counter_keys(email, None)["email"])


def _audit(action: str, *, org_id: int | None, user: User | None, ip: str | None, **meta) -> None:
    auditing.record(
        AuditEntry(
            org_id=org_id, action=action, object_type="iam.user" if user else "",
            object_id=str(user.pk) if user else "", actor_user_id=user.pk if user else None,
            actor_label=str(user.pk) if user else "anonymous", ip=ip, meta=meta,
        )
    )


def _fail(email: str, ip: str | None, user: User | None, reason: str) -> LoginFailed:
    _audit("login_failed", org_id=None, user=user, ip=ip, email=crypto.mask(email, "email"), reason=reason)
    for kind in _count_failure(email, ip):
        _audit("lockout", org_id=None, user=user, ip=ip, email=crypto.mask(email, "email"), counter=kind)
    return LoginFailed("the email or password is not correct")


# --- password step ------------------------------------------------------------------------------------------


def check_password(*, email: str, password: str, ip: str | None) -> User:
    """The person behind ``email`` if the password is right, the person is active and belongs to at least one
    organisation; else ``LoginFailed`` (one message whatever was wrong) or ``LoginLocked``."""
    email = (email or "").strip().lower()
    if is_locked(email, ip):
        _audit("login_failed", org_id=None, user=None, ip=ip, email=crypto.mask(email, "email"), reason="locked")
        raise LoginLocked("too many failed attempts; try again later")
    user = User.objects.filter(email=email).first() if email else None
    if user is None:
        User().set_password(password or "x")  # spend the same hashing time as a real check
        raise _fail(email, ip, None, "unknown_email")
    if not user.check_password(password or ""):
        raise _fail(email, ip, user, "bad_password")
    if not user.is_active or not memberships_of(user):
        raise _fail(email, ip, user, "inactive")
    return user


def begin_second_factor(request: HttpRequest, user: User) -> None:
    """Password accepted, TOTP still to come: remember who, briefly, in the (not yet authenticated) session."""
    request.session[PENDING_KEY] = {"user_id": user.pk, "at": clock.now().timestamp()}


def pending_user(request: HttpRequest) -> User | None:
    pending = request.session.get(PENDING_KEY)
    if not pending or clock.now().timestamp() - pending.get("at", 0) > PENDING_SECONDS:
        return None
    return User.objects.filter(pk=pending.get("user_id"), is_active=True).first()


def check_second_factor(request: HttpRequest, *, code: str) -> User:
    """The TOTP step of a login; failures count toward the same lock-out as passwords."""
    ip = client_ip(request)
    user = pending_user(request)
    if user is None:
        raise LoginFailed("the sign-in has expired; start again", code="login_expired")
    if is_locked(user.email, ip):
        raise LoginLocked("too many failed attempts; try again later")
    if not verify_totp(user, code):
        raise _fail(user.email, ip, user, "bad_totp")
    request.session.pop(PENDING_KEY, None)
    return user


# --- completing a login, logout, switching ------------------------------------------------------------------


def complete_login(request: HttpRequest, user: User) -> Membership:
    """Log the person in: a new session key (``django.contrib.auth.login`` cycles it), the organisation to act
    in, a server-side ``UserSession`` and a ``login`` audit entry in that organisation."""
    memberships = memberships_of(user)
    if not memberships:
        raise LoginFailed("the email or password is not correct")
    wanted = request.session.get("org_id")
    membership = next((m for m in memberships if m.org_id == wanted), memberships[0])
    request.session.pop(PENDING_KEY, None)
    django_login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    request.session["org_id"] = membership.org_id
    start_session(request, user=user, membership=membership)
    _clear_email_failures(user.email)
    _audit("login", org_id=membership.org_id, user=user, ip=client_ip(request),
           second_factor=user.has_totp)
    return membership


def logout(request: HttpRequest) -> None:
    """End the session server side (the ``UserSession`` is marked ended, the Django session row deleted)."""
    user = getattr(request, "user", None)
    rec = current_session(request)
    if user is not None and user.is_authenticated:
        org_id = rec.membership.org_id if rec and rec.membership_id else request.session.get("org_id")
        _audit("logout", org_id=org_id, user=user, ip=client_ip(request))
    if rec is not None:
        mark_ended([rec.session_key], "logout")
    django_logout(request)


def switch_organization(request: HttpRequest, *, org_id: int) -> Membership:
    """Act in another organisation the person belongs to; any other id is simply not found."""
    membership = next((m for m in memberships_of(request.user) if m.org_id == org_id), None)
    if membership is None:
        raise NotFound("organisation not found")
    request.session["org_id"] = membership.org_id
    move_session(request, membership=membership)
    return membership


def needs_second_factor(user: User, membership: Membership | None) -> bool:
    """An administrator of an organisation that requires it must enrol TOTP before using the console."""
    if membership is None or user.has_totp or not membership.org.require_admin_2fa:
        return False
    return membership.roles.filter(is_admin=True).exists()


# --- TOTP -------------------------------------------------------------------------------------------------


def _secret(user: User) -> str:
    return crypto.decrypt(user.totp_secret, context=TOTP_CONTEXT)


def verify_totp(user: User, code: str) -> bool:
    """A code for the current 30-second step (or one either side, for clock drift), never one already used."""
    if not user.totp_secret:
        return False
    code = "".join(ch for ch in (code or "") if ch.isdigit())
    if len(code) != 6:
        return False
    totp = pyotp.TOTP(_secret(user))
    now_step = totp.timecode(clock.now().timestamp())
    for step in (now_step - 1, now_step, now_step + 1):
        if user.totp_last_step is not None and step <= user.totp_last_step:
            continue
        if hmac.compare_digest(totp.generate_otp(step), code):
            user.totp_last_step = step
            user.save(update_fields=["totp_last_step"])
            return True
    return False


def begin_totp_enrolment(*, user: User) -> str:
    """A fresh secret, stored encrypted and unconfirmed (a pending enrolment is restarted). Returns the secret."""
    if user.has_totp:
        raise Conflict("the second factor is already on")
    secret = pyotp.random_base32()
    user.totp_secret = crypto.encrypt(secret, context=TOTP_CONTEXT)
    user.totp_confirmed_at = None
    user.totp_last_step = None
    user.save(update_fields=["totp_secret", "totp_confirmed_at", "totp_last_step"])
    return secret


def pending_totp_secret(user: User) -> str | None:
    """The secret of an enrolment begun but not yet confirmed."""
    if not user.totp_secret or user.totp_confirmed_at:
        return None
    return _secret(user)


def totp_qr_svg(user: User, secret: str) -> str:
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=TOTP_ISSUER)
    return segno.make(uri, error="m").svg_inline(scale=4, dark="#000", light="#fff")


def confirm_totp_enrolment(*, actor: Actor, user: User, code: str) -> None:
    """Switch the second factor on once the person proves their authenticator shows the right code."""
    if user.has_totp or not user.totp_secret:
        raise Conflict("no enrolment is pending")
    if not verify_totp(user, code):
        raise ValidationFailed("wrong code", fields={"code": ["the code is not correct"]})
    user.totp_confirmed_at = clock.now()
    user.save(update_fields=["totp_confirmed_at"])
    auditing.record_write(actor, "totp_enabled", "iam.user", user.pk)


def disable_totp(*, actor: Actor, user: User, code: str) -> None:
    """Switch the second factor off; needs a current code, so a borrowed session cannot do it."""
    if not user.has_totp:
        raise Conflict("the second factor is off")
    if not verify_totp(user, code):
        raise ValidationFailed("wrong code", fields={"code": ["the code is not correct"]})
    user.totp_secret = ""
    user.totp_confirmed_at = None
    user.totp_last_step = None
    user.save(update_fields=["totp_secret", "totp_confirmed_at", "totp_last_step"])
    auditing.record_write(actor, "totp_disabled", "iam.user", user.pk)
