"""The field-type registry: type key -> one instance of its class.

Built-in types register here; a new type is one module with one class plus one line below (see README).
"""

from __future__ import annotations

from .base import FieldType
from .boolean import BooleanType
from .date import DateType
from .datetime import DateTimeType
from .decimal import DecimalType
from .email import EmailType
from .integer import IntegerType
from .long_text import LongTextType
from .lookup import LookupType
from .money import MoneyType
from .multi_select import MultiSelectType
from .phone import PhoneType
from .single_select import SingleSelectType
from .text import TextType
from .url import UrlType
from .user import UserType

_types: dict[str, FieldType] = {}


def register(field_type: FieldType) -> None:
    if field_type.key in _types:
        raise ValueError(f"field type {field_type.key!r} is already registered")
    _types[field_type.key] = field_type


def get(key: str) -> FieldType | None:
    return _types.get(key)


def all_types() -> list[FieldType]:
    return list(_types.values())


for _cls in (TextType, LongTextType, IntegerType, DecimalType, MoneyType, DateType, DateTimeType, BooleanType,
             SingleSelectType, MultiSelectType, PhoneType, EmailType, UrlType, UserType, LookupType):
    register(_cls())
