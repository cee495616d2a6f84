"""Console fixtures: a client signed in without the login form (iam's tests cover that form), and compiled
catalogues so translated pages can be asserted when the tests run without ``make setup``."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from django.test import Client

from siyu.iam.models import UserSession
from siyu.kernel import clock

LOCALE = Path(__file__).resolve().parents[2] / "src" / "siyu" / "console" / "locale"


def compile_console_catalogue() -> None:
    """What ``make setup`` does (pybabel compile), for the console's catalogue when its .mo is missing or stale."""
    po = LOCALE / "zh_Hans" / "LC_MESSAGES" / "django.po"
    mo = po.with_suffix(".mo")
    if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
        return
    with po.open("rb") as f:
        catalog = read_po(f, locale="zh_Hans")
    with mo.open("wb") as f:
        write_mo(f, catalog)
    # Catalogues Django already loaded in this process would otherwise keep the stale text.
    from django.utils.translation import trans_real

    trans_real._translations.clear()
    trans_real._default = None


compile_console_catalogue()  # before Django loads any translation


def signed_in(membership, client: Client | None = None) -> Client:
    client = client or Client()
    client.force_login(membership.user)
    # The session policy ends sessions it has no server-side record of; write the record login would write.
    UserSession.objects.create(
        user=membership.user, session_key=client.session.session_key, last_seen_at=clock.now()
    )
    session = client.session
    session["org_id"] = membership.org_id
    session.save()
    return client


@pytest.fixture
def console_client(db):
    return signed_in
