"""``siyu check``: every unsafe production setting is named, bilingually, and fails the run."""

from __future__ import annotations

import io
import re

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import override_settings

SAFE = {
    "DEBUG": False,
    "SECRET_KEY_FROM_ENV": True,
    "SIYU_FIELD_KEYS_FROM_ENV": True,
    "IS_POSTGRES": True,
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "SESSION_COOKIE_SECURE": True,
    "CSRF_COOKIE_SECURE": True,
    "ALLOWED_HOSTS": ["crm.example.com"],
    "SECURE_HSTS_SECONDS": 31536000,
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
    "SECURE_HSTS_PRELOAD": True,
    "SECURE_SSL_REDIRECT": True,
}


def check(*args) -> tuple[str, int]:
    out = io.StringIO()
    try:
        call_command("siyu_check", *args, stdout=out)
    except CommandError as exc:
        return out.getvalue(), exc.returncode
    return out.getvalue(), 0


def codes(output: str) -> list[str]:
    return re.findall(r"^(?:UNSAFE |WARNING) (\S+)$", output, flags=re.M)


def test_embedded_defaults_are_reported_unsafe_in_both_languages(db):
    out, status = check()
    expected = ["siyu.secret_key", "siyu.field_keys", "siyu.redis", "siyu.cookies"]
    if not settings.IS_POSTGRES:
        expected.insert(2, "siyu.sqlite")
    assert [c for c in codes(out) if c.startswith("siyu.")] == expected
    assert status == 1
    assert "SECRET_KEY was generated into var/ instead of given." in out
    assert "SECRET_KEY 是自动生成并保存在 var/ 中的，而不是由环境提供。" in out
    assert "Cookie 会通过明文 HTTP 发送：SESSION_COOKIE_SECURE, CSRF_COOKIE_SECURE 未开启。" in out
    assert "WARNING security.W004" in out  # Django's check --deploy is included


@override_settings(**{**SAFE, "DEBUG": True, "ALLOWED_HOSTS": ["*"]})
def test_debug_and_wildcard_hosts_are_unsafe(db):
    out, status = check("--language", "en")
    assert codes(out) == ["siyu.debug", "siyu.allowed_hosts"]
    assert "ALLOWED_HOSTS contains '*': any Host header is accepted." in out
    assert "数据库" not in out and status == 1


@override_settings(**SAFE)
def test_a_production_configuration_passes(db):
    out, status = check()
    assert codes(out) == [] and status == 0
    assert "OK: nothing unsafe for production found." in out


@override_settings(**{**SAFE, "SECURE_HSTS_SECONDS": 0})
@pytest.mark.parametrize(("level", "status"), [("unsafe", 0), ("warning", 1), ("never", 0)])
def test_fail_level_decides_the_exit_status(db, level, status):
    out, got = check("--fail-level", level)
    assert codes(out) == ["security.W004"]
    assert got == status


def test_never_only_reports(db):
    out, status = check("--fail-level", "never")
    assert status == 0 and "siyu.secret_key" in out
