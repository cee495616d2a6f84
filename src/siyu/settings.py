"""Composition root settings: everything comes from the environment, with safe embedded defaults.

Embedded mode (no DATABASE_URL, no REDIS_URL) keeps all state under ``SIYU_VAR_DIR`` (default ``./var``):
the SQLite database, the huey queue file, and the generated secret and field keys.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import dj_database_url

SRC_DIR = Path(__file__).resolve().parent
VAR_DIR = Path(os.environ.get("SIYU_VAR_DIR", Path.cwd() / "var")).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _persisted_secret(filename: str, factory) -> str:
    """A secret generated once for the embedded mode and kept under var/ (``siyu check`` flags it)."""
    path = VAR_DIR / filename
    if not path.exists():
        path.write_text(factory())
        path.chmod(0o600)
    return path.read_text().strip()


DEBUG = _env_bool("SIYU_DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY") or _persisted_secret("secret_key", lambda: secrets.token_urlsafe(50))
SECRET_KEY_FROM_ENV = bool(os.environ.get("SECRET_KEY"))

# Field encryption keys: {"active": "k1", "keys": {"k1": "<base64 32 bytes>"}}; see kernel/crypto.py.
SIYU_FIELD_KEYS = json.loads(
    os.environ.get("SIYU_FIELD_KEYS")
    or _persisted_secret(
        "field_keys.json",
        lambda: json.dumps(
            {"active": "k1", "keys": {"k1": __import__("base64").b64encode(secrets.token_bytes(32)).decode()}}
        ),
    )
)
SIYU_FIELD_KEYS_FROM_ENV = bool(os.environ.get("SIYU_FIELD_KEYS"))

ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "huey.contrib.djhuey",
    "siyu.kernel",
    "siyu.iam",
    "siyu.audit",
    "siyu.platform",
    "siyu.cdp",
    "siyu.channels.wecom",
    "siyu.channels.wecom.broadcasts",
    "siyu.channels.wecom.archive",
    "siyu.channels.official_account",
    "siyu.sales",
    "siyu.console",
    "siyu.wiring.WiringConfig",  # composition root: wires contexts that may not import each other
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "siyu.console.middleware.SecurityHeadersMiddleware",
    "siyu.kernel.middleware.ApiErrorShapeMiddleware",
    "siyu.kernel.deferred.DeferredWritesMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "siyu.iam.middleware.SessionPolicyMiddleware",
    "siyu.iam.middleware.ActorMiddleware",
    "siyu.kernel.middleware.ApiRequestMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "siyu.urls"
WSGI_APPLICATION = "siyu.wsgi.application"
ASGI_APPLICATION = "siyu.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "siyu.console.context.console",
            ],
        },
    }
]

# --- database -------------------------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / "siyu.sqlite3"),
            "OPTIONS": {
                # IMMEDIATE takes the write lock at BEGIN, so concurrent writers queue on busy_timeout
                # instead of failing with "database is locked" when they upgrade a read transaction.
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
            },
            "TEST": {"NAME": os.environ.get("SIYU_TEST_SQLITE_NAME") or None},
        }
    }
DATABASES["default"]["ATOMIC_REQUESTS"] = True  # commit at the edge: services never commit
IS_POSTGRES = DATABASES["default"]["ENGINE"].endswith("postgresql")
if IS_POSTGRES:
    # Web and worker queries are short and page-sized. A parallel plan costs ~10 ms of worker start-up and, on
    # mis-estimated custom-field filters, was chosen over an index scan that takes 0.7 ms (docs/adr/0002).
    # Long analytical jobs may raise it with SET LOCAL.
    _parallel = int(os.environ.get("SIYU_PG_MAX_PARALLEL_WORKERS_PER_GATHER", "0"))
    _pg_options = DATABASES["default"].setdefault("OPTIONS", {})
    _pg_options["options"] = f"{_pg_options.get('options', '')} -c max_parallel_workers_per_gather={_parallel}".strip()
    # Concurrent runs (developers, CI) must not fight over one test database name.
    DATABASES["default"].setdefault("TEST", {})["NAME"] = os.environ.get(
        "SIYU_TEST_PG_NAME", f"test_siyu_{os.getpid()}"
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- cache / redis / jobs -------------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    HUEY = {
        "huey_class": "huey.RedisHuey",
        "name": os.environ.get("SIYU_HUEY_NAME", "siyu"),
        "url": REDIS_URL,
        "immediate": _env_bool("SIYU_HUEY_IMMEDIATE", False),
        "consumer": {"workers": int(os.environ.get("SIYU_WORKERS", "2")), "worker_type": "thread"},
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "siyu_cache",
            # rate-limit counters live here (one per credential and minute): culling them would under-count
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        }
    }
    HUEY = {
        "huey_class": "huey.SqliteHuey",
        "name": "siyu",
        "filename": os.environ.get("SIYU_HUEY_FILE", str(VAR_DIR / "huey.sqlite3")),
        "immediate": _env_bool("SIYU_HUEY_IMMEDIATE", False),
        # SqliteHuey is polled (Redis blocks on BRPOP): cap the idle back-off at 1 s (huey's default is 10 s),
        # so an on-commit nudge reaches an idle worker within a second.
        "consumer": {"workers": int(os.environ.get("SIYU_WORKERS", "2")), "worker_type": "thread", "max_delay": 1.0},
    }
# Durable work (kernel/README.md): a claim's lease (a killed worker's rows are retried after it), how often the
# claimers poll (a divisor of 60), and extra modules the worker imports for handlers/actions (plugins, tests).
SIYU_DURABLE_LEASE_SECONDS = int(os.environ.get("SIYU_DURABLE_LEASE_SECONDS", "300"))
SIYU_DURABLE_POLL_SECONDS = int(os.environ.get("SIYU_DURABLE_POLL_SECONDS", "5"))
SIYU_EXTRA_TASK_MODULES = [m.strip() for m in os.environ.get("SIYU_EXTRA_TASK_MODULES", "").split(",") if m.strip()]

# --- auth, sessions, security ---------------------------------------------------------------------------
AUTH_USER_MODEL = "iam.User"
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
PASSWORD_HASHERS = ["siyu.iam.passwords.Argon2idHasher"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"

SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = _env_bool("SIYU_SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_AGE = int(os.environ.get("SIYU_SESSION_ABSOLUTE_SECONDS", 12 * 3600))  # absolute timeout
SIYU_SESSION_IDLE_SECONDS = int(os.environ.get("SIYU_SESSION_IDLE_SECONDS", 30 * 60))
SIYU_LOGIN_MAX_FAILURES = 5
SIYU_LOGIN_LOCK_SECONDS = 15 * 60
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_SSL_REDIRECT = _env_bool("SIYU_SSL_REDIRECT", False)

# --- i18n -----------------------------------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [SRC_DIR / "locale"]
TIME_ZONE = os.environ.get("SIYU_TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
# Only the built files of the pinned npm packages are served, under /static/vendor/<package>/.
ASSETS_DIR = Path(os.environ.get("SIYU_ASSETS_DIR", SRC_DIR.parent.parent / "node_modules"))
_VENDOR = {
    "bootstrap": "bootstrap/dist",
    "bootstrap-icons": "bootstrap-icons/font",
    "echarts": "echarts/dist",
    "htmx": "htmx.org/dist",
}
STATICFILES_DIRS = [(f"vendor/{name}", ASSETS_DIR / sub) for name, sub in _VENDOR.items() if (ASSETS_DIR / sub).exists()]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# --- API ------------------------------------------------------------------------------------------------
SIYU_API_RATE_PER_MINUTE = int(os.environ.get("SIYU_API_RATE_PER_MINUTE", "600"))
SIYU_IDEMPOTENCY_TTL_HOURS = int(os.environ.get("SIYU_IDEMPOTENCY_TTL_HOURS", "24"))  # never below 24
SIYU_API_MAX_BODY_BYTES = int(os.environ.get("SIYU_API_MAX_BODY_BYTES", str(1024 * 1024)))
# kernel.middleware finds the caller (for rate limits and Idempotency-Key) through this composition-root hook.
SIYU_API_CREDENTIAL_RESOLVER = "siyu.api.credential_of"
SIYU_AUDIT_MIN_RETENTION_DAYS = 180

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("SIYU_LOG_LEVEL", "WARNING")},
}
