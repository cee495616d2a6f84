"""Helpers shared by the ingestion tests (imported by name: conftest puts this folder on sys.path)."""

from __future__ import annotations

import base64


def basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


def track(i: int, *, user="u1", name="Product Viewed", **extra):
    return {"type": "track", "event": name, "userId": user, "messageId": f"m-{i}",
            "timestamp": "2025-03-01T10:00:00.000+00:00", "properties": {"sku": f"SKU{i}"}, **extra}
