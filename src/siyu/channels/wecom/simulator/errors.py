"""WeCom-shaped errors: HTTP 200 with ``errcode`` and an ``errmsg`` in WeCom's format (protocol document §2.1)."""

from __future__ import annotations

import secrets

MORE_INFO = "https://open.work.weixin.qq.com/devtool/query?e="


class ApiError(Exception):
    """Answer the current API call with ``errcode`` (HTTP 200, like WeCom)."""

    def __init__(self, errcode: int, message: str):
        super().__init__(f"{errcode} {message}")
        self.errcode = errcode
        self.message = message

    def errmsg(self, ip: str = "127.0.0.1") -> str:
        hint = "".join(secrets.choice("0123456789") for _ in range(25))
        return f"{self.message}, hint: [{hint}], from ip: {ip}, more info at {MORE_INFO}{self.errcode}"


class ActionError(Exception):
    """A client-side action (scan, delete …) that cannot happen in the current state."""
