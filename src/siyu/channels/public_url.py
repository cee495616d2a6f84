"""Where WeCom and the official account reach this installation: the base of every callback URL we print."""

from __future__ import annotations

import os

from django.conf import settings


def public_base_url() -> str:
    """``SIYU_PUBLIC_URL`` (setting or environment), default ``http://localhost:8000``."""
    base = getattr(settings, "SIYU_PUBLIC_URL", "") or os.environ.get("SIYU_PUBLIC_URL", "") or "http://localhost:8000"
    return base.rstrip("/")
