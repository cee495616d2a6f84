"""A console client that is signed in without going through the login form (iam's tests cover that)."""

from __future__ import annotations

import pytest
from django.test import Client

from siyu.iam.models import UserSession
from siyu.kernel import clock


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
