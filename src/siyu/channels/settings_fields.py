"""Checks shared by the forms that connect a channel account (WeCom corps, official accounts): each adds its
refusal to ``errors`` under the field's name, so every bad field is reported together."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit


def text_field(value: Any, field: str, limit: int, errors: dict[str, list[str]], *, required: bool = False) -> str:
    text = "" if value is None else str(value).strip()
    if required and not text:
        errors.setdefault(field, []).append("required")
    elif len(text) > limit or any(not c.isprintable() for c in text):
        errors.setdefault(field, []).append(f"at most {limit} printable characters")
    return text


def api_base_field(value: Any, default: str, errors: dict[str, list[str]]) -> str:
    """An http(s) base URL without query string, ending in ``/`` (the platform's, or the simulator's)."""
    text = str(value or "").strip() or default
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment or len(text) > 300:
        errors.setdefault("api_base", []).append("an http(s) URL without query string")
        return text
    return text if text.endswith("/") else text + "/"
