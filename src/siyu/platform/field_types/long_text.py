"""Multi-line text (notes, descriptions): not indexed, filtered by ``contains``."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from .text import TextType


class LongTextType(TextType):
    key = "long_text"
    label = _("Long text")
    operators = ("contains", "is_empty")
    sortable = False
    indexable = False
    compatible_from = frozenset({"text", "single_select", "url"})
    default_max = 10000
    limit = 100000
