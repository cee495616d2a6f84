#!/usr/bin/env python3
"""Run a command (the test suite) against PostgreSQL, with DATABASE_URL set.

* ``TEST_DATABASE_URL`` given: use it.
* ``CI=true``: use the CI server (127.0.0.1:5432, trust auth, database ``test``); failing to reach it fails.
* otherwise: start a throwaway cluster from Debian's PostgreSQL binaries in a temporary directory (unix socket
  only, so it never collides with a server on 5432), run the command, and remove the cluster;
  when no binaries exist, say so loudly and exit 0 without running (the SQLite pass still ran).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time

CI_URL = "postgres://postgres@127.0.0.1:5432/test"


def reachable(url: str) -> bool:
    try:
        import psycopg

        with psycopg.connect(url.replace("postgres://", "postgresql://"), connect_timeout=3):
            return True
    except Exception:  # noqa: BLE001 - any failure means "not reachable", reported by the caller
        return False


def run(cmd: list[str], url: str) -> int:
    env = dict(os.environ, DATABASE_URL=url, SIYU_DB="postgres")
    return subprocess.call(cmd, env=env)


def throwaway(cmd: list[str]) -> int:
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins:
        return 0
    bindir = os.path.dirname(bins[-1])
    root = tempfile.mkdtemp(prefix="siyu-pg-")
    data, sock = os.path.join(root, "data"), os.path.join(root, "sock")
    os.mkdir(sock)
    user_args: list[str] = []
    preexec = None
    if os.geteuid() == 0:  # initdb refuses root: run the cluster as the postgres system user
        import pwd

        pw = pwd.getpwnam("postgres")
        shutil.chown(root, pw.pw_uid, pw.pw_gid)
        shutil.chown(sock, pw.pw_uid, pw.pw_gid)

        def preexec():  # noqa: F811
            os.setgid(pw.pw_gid)
            os.setuid(pw.pw_uid)

        user_args = []
    subprocess.check_call([f"{bindir}/initdb", "-D", data, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"],
                          stdout=subprocess.DEVNULL, preexec_fn=preexec)
    log = os.path.join(root, "log")
    subprocess.check_call([f"{bindir}/pg_ctl", "-D", data, "-l", log, "-w", "-o",
                           f"-k {sock} -c listen_addresses='' -c fsync=off -c full_page_writes=off", "start", *user_args],
                          stdout=subprocess.DEVNULL, preexec_fn=preexec)
    try:
        url = f"postgres://postgres@/postgres?host={sock}"
        for _ in range(50):
            if reachable(url):
                break
            time.sleep(0.2)
        return run(cmd, url)
    finally:
        subprocess.call([f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "stop"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=preexec)
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    cmd = sys.argv[1:]
    if not cmd:
        return 2
    if os.environ.get("TEST_DATABASE_URL"):
        return run(cmd, os.environ["TEST_DATABASE_URL"])
    if os.environ.get("CI", "").lower() == "true":
        url = os.environ.get("DATABASE_URL") or CI_URL
        if not reachable(url):
            return 1
        return run(cmd, url)
    return throwaway(cmd)


if __name__ == "__main__":
    sys.exit(main())
