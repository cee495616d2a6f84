"""Each field type: stored form, validation messages, display, export (no database needed for most)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import translation

from siyu.platform.field_types import registry
from siyu.platform.field_types.base import FieldError, FieldSpec, csv_safe


def spec(type_key, **options):
    return FieldSpec(key="f", type=type_key, options=options, object_key="custom.test")


def coerce(type_key, value, **options):
    return registry.get(type_key).coerce(value, spec(type_key, **options))


@pytest.mark.parametrize(("type_key", "value", "options", "stored"), [
    ("text", "  hello ", {}, "hello"),
    ("text", 42, {}, "42"),
    ("long_text", "a\nb", {}, "a\nb"),
    ("integer", "17", {}, 17),
    ("integer", -3, {}, -3),
    ("integer", 4.0, {}, 4),
    ("decimal", "1.5", {"decimal_places": 2}, "1.50"),
    ("decimal", 0.1, {"decimal_places": 2}, "0.10"),
    ("decimal", "-0", {"decimal_places": 1}, "0.0"),
    ("money", "12.5", {"currency": "CNY"}, {"amount": "12.50", "currency": "CNY"}),
    ("money", {"amount": 3, "currency": "jpy"}, {"currency": "CNY"}, {"amount": "3", "currency": "JPY"}),
    ("date", "2025-03-01", {}, "2025-03-01"),
    ("date", dt.date(2025, 3, 1), {}, "2025-03-01"),
    ("datetime", "2025-03-01T09:30:00+08:00", {}, "2025-03-01T01:30:00.000000+00:00"),
    ("datetime", "2025-03-01T01:30:00Z", {}, "2025-03-01T01:30:00.000000+00:00"),
    ("boolean", "yes", {}, True),
    ("boolean", 0, {}, False),
    ("single_select", "won", {"choices": [{"value": "won", "label": "Won"}]}, "won"),
    ("multi_select", ["b", "a", "b"], {"choices": [{"value": "a", "label": "A"}, {"value": "b", "label": "B"}]},
     ["a", "b"]),
    ("url", " https://example.com/x ", {}, "https://example.com/x"),
    ("user", "12", {}, 12),
    ("lookup", 5, {"object": "custom.x"}, 5),
])
def test_stored_forms(type_key, value, options, stored):
    assert coerce(type_key, value, **options) == stored


@pytest.mark.parametrize(("type_key", "value", "options", "message"), [
    ("text", "x" * 256, {}, "at most 255 characters"),
    ("text", "x" * 11, {"max_length": 10}, "at most 10 characters"),
    ("text", ["a"], {}, "must be text"),
    ("text", "a\x00b", {}, "must not contain NUL characters"),
    ("integer", "1.5", {}, "must be a whole number"),
    ("integer", True, {}, "must be a whole number"),
    ("integer", 2**60, {}, "must be between -9007199254740991 and 9007199254740991"),
    ("integer", 5, {"min": 10}, "must be at least 10"),
    ("decimal", "1.234", {"decimal_places": 2}, "at most 2 decimal places"),
    ("decimal", "NaN", {}, "must be a finite number"),
    ("decimal", "abc", {}, "must be a number"),
    ("decimal", "1e40", {}, "the number is too large"),
    ("money", "1.001", {"currency": "CNY"}, "at most 2 decimal places"),
    ("money", "1.5", {"currency": "JPY"}, "at most 0 decimal places"),
    ("money", {"amount": "1", "currency": "XYZ1"}, {}, "currency must be an ISO 4217 code such as CNY"),
    ("money", {"amount": "1", "rate": 2}, {}, "unknown keys: rate"),
    ("date", "2025-02-30", {}, "must be a date (YYYY-MM-DD)"),
    ("date", dt.datetime(2025, 1, 1, tzinfo=dt.UTC), {}, "must be a date (YYYY-MM-DD)"),
    ("datetime", "2025-03-01T09:30:00", {},
     "must be an ISO 8601 date and time with a UTC offset, e.g. 2025-03-01T09:30:00+08:00"),
    ("boolean", "maybe", {}, "must be true or false"),
    ("boolean", 2, {}, "must be true or false"),
    ("single_select", "lost", {"choices": [{"value": "won", "label": "Won"}]}, "must be one of the field's choices"),
    ("multi_select", ["c"], {"choices": [{"value": "a", "label": "A"}]}, "must be a list of the field's choices"),
    ("phone", "12345", {}, "must be a valid phone number"),
    ("phone", True, {}, "must be a valid phone number"),
    ("email", "not-an-email", {}, "must be an email address"),
    ("url", "javascript:alert(1)", {}, "must be an http or https URL"),
    ("url", "ftp://example.com", {}, "must be an http or https URL"),
    ("user", "abc", {}, "must be an id"),
    ("user", 0, {}, "must be an id"),
])
def test_bad_values_have_clear_messages(type_key, value, options, message):
    with pytest.raises(FieldError) as exc:
        coerce(type_key, value, **options)
    assert str(exc.value) == message


@pytest.mark.parametrize("raw", ["13812345678", "138 1234 5678", "+86 138-1234-5678", "008613812345678",
                                 "１３８１２３４５６７８"])
def test_phone_is_normalised_encrypted_indexed_and_masked(raw):
    ft, s = registry.get("phone"), spec("phone")
    stored = ft.coerce(raw, s)
    assert set(stored) == {"ct", "bi"} and stored["ct"].startswith("v1:")
    assert ft.plaintext(stored, s) == "+8613812345678"
    assert stored["bi"] == ft.filter_value("eq", "13812345678", s)
    assert ft.to_api(stored, s) == "138****5678"
    assert ft.to_api(stored, s, unmask=True) == "+8613812345678"
    assert ft.display(stored, s) == "138****5678"
    assert ft.export(stored, s) == "138****5678"
    # the blind index is bound to the field: the same number in another field hashes differently
    other = FieldSpec(key="g", type="phone", object_key="custom.test")
    assert ft.coerce(raw, other)["bi"] != stored["bi"]


def test_email_is_masked():
    ft, s = registry.get("email"), spec("email")
    stored = ft.coerce("  Li.Lei@Example.COM ", s)
    assert ft.plaintext(stored, s) == "li.lei@example.com"
    assert ft.display(stored, s) == "l***@example.com"


def test_display_and_export():
    choices = {"choices": [{"value": "a", "label": "Apple"}, {"value": "b", "label": "=Bad"}]}
    with translation.override("en"):
        assert registry.get("money").display({"amount": "1234.50", "currency": "CNY"}, spec("money")) == "CN¥1,234.50"
        assert registry.get("boolean").display(True, spec("boolean")) == "Yes"
    with translation.override("zh-hans"):
        assert registry.get("money").display({"amount": "1234.50", "currency": "CNY"}, spec("money")) == "¥1,234.50"
        assert registry.get("boolean").display(False, spec("boolean")) == "否"
    assert registry.get("money").export({"amount": "1.00", "currency": "USD"}, spec("money")) == "1.00 USD"
    assert registry.get("multi_select").display(["a", "b"], spec("multi_select", **choices)) == "Apple, =Bad"
    assert registry.get("single_select").export("b", spec("single_select", **choices)) == "'=Bad"
    assert registry.get("text").export("=cmd|' /C calc'!A0", spec("text")) == "'=cmd|' /C calc'!A0"
    assert registry.get("datetime").export("2025-03-01T01:30:00.000000+00:00", spec("datetime")) == \
        "2025-03-01T01:30:00.000000+00:00"
    assert csv_safe("@SUM(1)") == "'@SUM(1)" and csv_safe("plain") == "plain"


def test_every_type_declares_what_it_owns():
    keys = [t.key for t in registry.all_types()]
    assert keys == ["text", "long_text", "integer", "decimal", "money", "date", "datetime", "boolean",
                    "single_select", "multi_select", "phone", "email", "url", "user", "lookup"]
    for ft in registry.all_types():
        assert ft.operators and set(ft.operators) <= {"eq", "ne", "lt", "gt", "lte", "gte", "contains", "in",
                                                      "is_empty"}
        assert str(ft.label)
    with pytest.raises(ValueError):
        registry.register(registry.get("text"))
