"""``siyu event-partitions [--months-ahead N] [--include-default]``: create cdp_event's monthly partitions
(PostgreSQL; a no-op on SQLite). The periodic task ``cdp.ingest.partitions`` does the same every six hours."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from siyu.cdp.ingest.partitions import ensure_partitions, existing


class Command(BaseCommand):
    help = "Create the current and coming months' event partitions ahead of time."

    def add_arguments(self, parser):
        parser.add_argument("--months-ahead", type=int, default=2)
        parser.add_argument("--include-default", action="store_true",
                            help="also move every month found in the DEFAULT partition into its own partition")

    def handle(self, *args, months_ahead, include_default, **opts):
        created = ensure_partitions(months_ahead=months_ahead, include_default=include_default)
        for name in created:
            self.stdout.write(f"created {name}\n")
        from django.db import connection

        if connection.vendor != "postgresql":
            self.stdout.write("SQLite: events live in one table, nothing to do\n")
        else:
            self.stdout.write(f"{len(created)} created; partitions now: {', '.join(sorted(existing()))}\n")
