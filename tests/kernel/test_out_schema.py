"""``OutSchema``: dicts from presenters are validated by pydantic directly, everything else exactly as ninja's
``Schema`` does (attribute access, callables, resolvers)."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from ninja import Schema
from ninja import schema as ninja_schema
from pydantic import ConfigDict, ValidationError

from siyu.kernel.api import OutSchema


class ItemOut(OutSchema):
    id: int
    name: str | None = None
    at: dt.datetime | None = None


class PageOut(OutSchema):
    items: list[ItemOut]
    next_cursor: str | None


class PlainItem(Schema):
    id: int
    name: str | None = None
    at: dt.datetime | None = None


class Resolved(OutSchema):
    id: int
    label: str

    @staticmethod
    def resolve_label(obj) -> str:
        return f"#{obj['id']}" if isinstance(obj, dict) else f"#{obj.id}"


class Strict(OutSchema):
    model_config = ConfigDict(extra="forbid")
    id: int


def test_dicts_skip_the_attribute_wrapper_and_validate_the_same(monkeypatch):
    at = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)
    data = {"items": [{"id": 1, "name": "甲", "at": at, "extra": "dropped"}, {"id": "2"}], "next_cursor": None}
    expected = {"items": [PlainItem.model_validate(i).model_dump() for i in data["items"]], "next_cursor": None}

    def no_wrapper(*a, **kw):
        raise AssertionError("a dict went through DjangoGetter")

    monkeypatch.setattr(ninja_schema, "DjangoGetter", no_wrapper)  # the wrapper ninja's Schema validates through
    page = PageOut.model_validate(data)
    assert page.model_dump() == expected
    assert page.items[0].model_fields_set == {"id", "name", "at"}  # exclude_unset sees what the dict held
    with pytest.raises(ValidationError):
        PageOut.model_validate({"items": [{"name": "no id"}], "next_cursor": None})


def test_objects_callables_and_resolvers_go_through_the_wrapper_as_with_schema():
    obj = SimpleNamespace(id=3, name=lambda: "called", at=None)
    assert ItemOut.model_validate(obj).model_dump() == PlainItem.model_validate(obj).model_dump()
    assert ItemOut.model_validate(obj).name == "called"
    assert Resolved.model_validate({"id": 4}).label == "#4"
    assert Resolved.model_validate(SimpleNamespace(id=5)).label == "#5"
    with pytest.raises(ValidationError):
        Strict.model_validate({"id": 1, "unknown": 2})
    assert Strict.model_validate(SimpleNamespace(id=1)).id == 1
