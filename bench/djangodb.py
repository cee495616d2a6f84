"""Database plumbing that benchmarks share: a fresh PostgreSQL database and Django set up against it."""

from __future__ import annotations

import os


def recreate_database(url: str) -> None:
    """Drop and create the database ``url`` names (a throwaway benchmark database)."""
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(base.replace("postgres://", "postgresql://") + "/postgres", autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}"')
        c.execute(f'CREATE DATABASE "{name}"')


def setup_django(url: str, var_dir: str) -> None:
    """Django on ``url`` with its state (field keys) in ``var_dir`` unless SIYU_VAR_DIR says otherwise, and API
    rate limits out of the way."""
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("SIYU_VAR_DIR", var_dir)
    os.environ["SIYU_API_RATE_PER_MINUTE"] = "100000000"
    os.makedirs(os.environ["SIYU_VAR_DIR"], exist_ok=True)
    import django

    django.setup()
