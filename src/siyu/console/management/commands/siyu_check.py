"""``siyu check``: what is unsafe for production in the running configuration.

The embedded defaults (SQLite, generated keys under var/, no Redis) are right for a laptop and wrong for a server;
this command names each one with the environment variable that fixes it, then adds Django's ``check --deploy``
findings. Every line is printed in English and in Chinese so an operator can read it either way.

Exit status: 0 when nothing reaches ``--fail-level`` (default ``unsafe``), 1 otherwise; ``--fail-level never``
only reports.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core import checks
from django.core.management.base import BaseCommand, CommandError
from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

UNSAFE = "unsafe"
WARNING = "warning"
LEVELS = {UNSAFE: 2, WARNING: 1}
# Django deployment checks that repeat one of ours (DEBUG, insecure cookies): reported once, by us.
COVERED_BY_OURS = {"security.W018", "security.W012", "security.W016"}


@dataclass(frozen=True)
class Finding:
    level: str  # UNSAFE or WARNING
    code: str
    message: object  # a lazy translatable string, or Django's own (English only) message
    fix: object = ""
    params: dict | None = None  # %-interpolated into the message once it is translated

    def text(self) -> str:
        return str(self.message) % self.params if self.params else str(self.message)

    @property
    def translatable(self) -> bool:
        return isinstance(self.message, Promise)


def siyu_findings() -> list[Finding]:
    """Siyu's own production checks over the current settings."""
    out: list[Finding] = []
    if settings.DEBUG:
        out.append(Finding(UNSAFE, "siyu.debug", _("DEBUG is on: error pages show code and settings."),
                           _("Unset SIYU_DEBUG.")))
    if not getattr(settings, "SECRET_KEY_FROM_ENV", False):
        out.append(Finding(UNSAFE, "siyu.secret_key", _("SECRET_KEY was generated into var/ instead of given."),
                           _("Set SECRET_KEY from your secret store.")))
    if not getattr(settings, "SIYU_FIELD_KEYS_FROM_ENV", False):
        out.append(Finding(UNSAFE, "siyu.field_keys",
                           _("SIYU_FIELD_KEYS (the keys encrypting personal data) were generated into var/ instead of given."),
                           _("Set SIYU_FIELD_KEYS from your secret store and keep a backup of it.")))
    if not getattr(settings, "IS_POSTGRES", False):
        out.append(Finding(UNSAFE, "siyu.sqlite", _("The database is SQLite, not PostgreSQL."),
                           _("Set DATABASE_URL to a PostgreSQL 15+ database.")))
    if not getattr(settings, "REDIS_URL", ""):
        out.append(Finding(UNSAFE, "siyu.redis",
                           _("No REDIS_URL: jobs queue in a SQLite file and the cache is the database."),
                           _("Set REDIS_URL.")))
    insecure = [name for name in ("SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE") if not getattr(settings, name)]
    if insecure:
        out.append(Finding(UNSAFE, "siyu.cookies",
                           _("Cookies are sent over plain HTTP: %(names)s off."),
                           _("Serve over HTTPS and set SIYU_SECURE_COOKIES=1."), {"names": ", ".join(insecure)}))
    if "*" in settings.ALLOWED_HOSTS:
        out.append(Finding(UNSAFE, "siyu.allowed_hosts", _("ALLOWED_HOSTS contains '*': any Host header is accepted."),
                           _("List the host names in ALLOWED_HOSTS.")))
    return out


def django_deploy_findings() -> list[Finding]:
    """Django's ``check --deploy`` messages (errors are unsafe, warnings are warnings)."""
    out = []
    for msg in checks.run_checks(include_deployment_checks=True):
        if msg.level < checks.WARNING or msg.id in COVERED_BY_OURS or msg.is_silenced():
            continue
        level = UNSAFE if msg.level >= checks.ERROR else WARNING
        out.append(Finding(level, msg.id or "django", str(msg.msg).strip(), msg.hint or ""))
    return out


class Command(BaseCommand):
    help = "List what is unsafe for production in this configuration (Siyu's checks plus Django's --deploy)."
    requires_system_checks: list = []  # we run them ourselves, as findings

    def add_arguments(self, parser):
        parser.add_argument(
            "--fail-level", choices=[UNSAFE, WARNING, "never"], default=UNSAFE,
            help="exit 1 when a finding at this level or above exists (default: unsafe)",
        )
        parser.add_argument(
            "--language", choices=["both", "en", "zh-hans"], default="both",
            help="the language(s) of the messages (default: both)",
        )

    def handle(self, *args, fail_level: str, language: str, **options):
        langs = ["en", "zh-hans"] if language == "both" else [language]
        findings = siyu_findings() + django_deploy_findings()
        w = self.stdout.write
        for f in findings:
            tag = self.style.ERROR("UNSAFE ") if f.level == UNSAFE else self.style.WARNING("WARNING")
            w(f"{tag} {f.code}")
            for lang in langs if f.translatable else langs[:1]:
                with translation.override(lang):
                    w(f"    {f.text()}")
                    if f.fix:
                        w(f"    → {f.fix}")
        unsafe = sum(1 for f in findings if f.level == UNSAFE)
        warnings = len(findings) - unsafe
        if not findings:
            w(self.style.SUCCESS("OK: nothing unsafe for production found. / 未发现生产环境的不安全配置。"))
        else:
            w(f"{unsafe} unsafe, {warnings} warning(s). / {unsafe} 项不安全，{warnings} 项警告。")
        if fail_level != "never" and any(LEVELS[f.level] >= LEVELS[fail_level] for f in findings):
            raise CommandError("not ready for production / 尚不适合生产环境", returncode=1)
