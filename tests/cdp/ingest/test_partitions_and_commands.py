"""Monthly event partitions (PostgreSQL) and the `siyu source` / `siyu event-partitions` commands."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.db import connection

from siyu.cdp.ingest import partitions
from siyu.cdp.ingest.sources import source_for_key
from siyu.cdp.models import Event, Source


def _event(org, at, mid):
    Event.objects.create(org_id=org.pk, type="track", name="E", message_id=mid, timestamp=at, received_at=at)


def _partition_of(mid):
    with connection.cursor() as cur:
        cur.execute("SELECT tableoid::regclass::text FROM cdp_event WHERE message_id = %s", [mid])
        return cur.fetchone()[0]


@pytest.mark.postgres_only
def test_partitions_are_created_ahead_and_rows_in_default_are_moved(org):
    if connection.vendor != "postgresql":
        pytest.skip("partitions exist only on PostgreSQL")
    _event(org, dt.datetime(2031, 5, 20, tzinfo=dt.UTC), "in-may")
    _event(org, dt.datetime(2031, 4, 30, 23, tzinfo=dt.UTC), "in-april")
    assert _partition_of("in-may") == "cdp_event_default"
    created = partitions.ensure_partitions(today=dt.date(2031, 5, 3))
    assert created == ["cdp_event_203105", "cdp_event_203106", "cdp_event_203107"]
    assert _partition_of("in-may") == "cdp_event_203105"
    assert _partition_of("in-april") == "cdp_event_default"  # an earlier month stays until asked
    assert partitions.ensure_partitions(today=dt.date(2031, 5, 3)) == []
    _event(org, dt.datetime(2031, 6, 2, tzinfo=dt.UTC), "in-june")
    assert _partition_of("in-june") == "cdp_event_203106"
    assert partitions.ensure_partitions(today=dt.date(2031, 5, 3), include_default=True) == ["cdp_event_203104"]
    assert _partition_of("in-april") == "cdp_event_203104"
    assert Event.objects.count() == 3
    # The moved partition has the parent's indexes (the BRIN on time among them).
    with connection.cursor() as cur:
        cur.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'cdp_event_203105'")
        defs = " ".join(r[0] for r in cur.fetchall())
    assert "brin" in defs and "profile_id" in defs


def test_partitions_are_a_no_op_on_sqlite(db):
    if connection.vendor == "postgresql":
        pytest.skip("SQLite only")
    assert partitions.ensure_partitions() == []


def test_event_partitions_command(db):
    out = io.StringIO()
    call_command("event_partitions", stdout=out)
    if connection.vendor == "postgresql":
        assert "created cdp_event_" in out.getvalue()
    else:
        assert "nothing to do" in out.getvalue()


def test_source_create_prints_the_key_once_and_list_never_shows_it(org):
    out = io.StringIO()
    call_command("source", "create", "--org", org.slug, "--name", "App", stdout=out)
    key = out.getvalue().strip().splitlines()[-1]
    source = Source.objects.unscoped_all_orgs().get()
    assert source_for_key(key).id == source.pk and source.key_hash != key and key.startswith(source.key_prefix)
    listing = io.StringIO()
    call_command("source", "list", "--org", str(org.pk), stdout=listing)
    assert "App" in listing.getvalue() and key not in listing.getvalue()
    assert source.key_prefix in listing.getvalue()


def test_source_create_for_an_unknown_org_fails(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("source", "create", "--org", "nope", "--name", "App")
    assert Source.objects.unscoped_all_orgs().count() == 0
