"""Query parameters of a callback request, percent-decoded the way the platforms encode them.

A form decoder (``request.GET``) turns ``+`` into a space, which breaks the Base64 ``echostr`` of WeCom's URL
verification (protocol document §1.4); here only ``%XX`` escapes are decoded. The first value of a repeated
name wins.
"""

from __future__ import annotations

from urllib.parse import unquote


def percent_decoded_query(query_string: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in query_string.split("&"):
        name, _, value = part.partition("=")
        if name and unquote(name) not in out:
            out[unquote(name)] = unquote(value)
    return out
