"""Fixtures of the platform tests: a custom object with one field of each kind, and records in it."""

from __future__ import annotations

import pytest

from siyu.platform import services


@pytest.fixture
def project(admin_actor):
    """custom.project with typical fields (admin actor)."""
    services.create_object(actor=admin_actor, key="project", label="Project")
    fields = [
        ("name", "text", {}, True),
        ("notes", "long_text", {}, False),
        ("seats", "integer", {"min": -100}, False),
        ("ratio", "decimal", {"decimal_places": 2}, False),
        ("budget", "money", {"currency": "CNY"}, False),
        ("starts", "date", {}, False),
        ("kickoff", "datetime", {}, False),
        ("active", "boolean", {}, False),
        ("stage", "single_select", {"choices": [{"value": "new", "label": "New"}, {"value": "won", "label": "Won"}]},
         False),
        ("tags", "multi_select", {"choices": [{"value": "vip", "label": "VIP"}, {"value": "b2b", "label": "B2B"}]},
         False),
        ("phone", "phone", {}, False),
        ("email", "email", {}, False),
        ("site", "url", {}, False),
    ]
    for order, (key, type_, options, required) in enumerate(fields):
        services.create_field(actor=admin_actor, object_key="custom.project", key=key, label=key.title(), type=type_,
                              options=options, required=required, order=order)
    return "custom.project"
