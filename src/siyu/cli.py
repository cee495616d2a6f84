"""The ``siyu`` command: Django's management commands plus a few that are not Django's.

``siyu serve`` runs gunicorn (a production server), ``siyu worker`` the huey consumer, ``siyu run`` both
together for ``make run``; everything else (``migrate``, ``createorg``, ``apikey``, ``audit``, ``keys``, ``demo``,
``check``, …) is a management command of the context that owns it.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time


def _django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "siyu.settings")


def serve(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="siyu serve", description="Run the web server (gunicorn).")
    parser.add_argument("--host", default=os.environ.get("SIYU_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("SIYU_PORT", "8000")))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("SIYU_WEB_WORKERS", "2")))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("SIYU_WEB_THREADS", "4")))
    args = parser.parse_args(argv)
    _django_setup()
    cmd = [
        sys.executable, "-m", "gunicorn", "siyu.wsgi:application",
        "--bind", f"{args.host}:{args.port}",
        "--workers", str(args.workers), "--threads", str(args.threads),
        "--access-logfile", "-", "--graceful-timeout", "10",
    ]
    os.execv(sys.executable, cmd)
    return 0  # pragma: no cover


WORKER_NICE_DEFAULT = 10


def worker_niceness(argv: list[str]) -> tuple[int, list[str]]:
    """``--nice N`` (or ``SIYU_WORKER_NICE``) taken out of the worker's arguments; the rest go to huey."""
    parser = argparse.ArgumentParser(prog="siyu worker", add_help=False)
    parser.add_argument("--nice", type=int, default=int(os.environ.get("SIYU_WORKER_NICE", WORKER_NICE_DEFAULT)))
    args, rest = parser.parse_known_args(argv)
    if not 0 <= args.nice <= 19:
        parser.error("--nice must be between 0 and 19")
    return args.nice, rest


def worker(argv: list[str]) -> int:
    """The huey consumer, at a lower CPU priority than the web server (``--nice``, default 10).

    Why: web and worker share the machine's cores, and what the web answers has a deadline (WeCom drops a
    callback not acknowledged in 5 s and retries it; a person waits for a page), while the worker's backlog does
    not. Only the worker's own process is niced, not its database backends (kernel/README.md)."""
    nice, rest = worker_niceness(argv)
    if nice:
        os.nice(nice)
    _django_setup()
    from django.core.management import execute_from_command_line

    execute_from_command_line(["siyu", "run_huey", *rest])
    return 0


def run(argv: list[str]) -> int:
    """Web server and job worker (and extra processes contexts add) together until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="siyu run")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    exe = [sys.executable, "-m", "siyu.cli"]
    procs = [
        subprocess.Popen([*exe, "serve", "--host", args.host, "--port", str(args.port)]),
        subprocess.Popen([*exe, "worker"]),
    ]
    # Extra `siyu` command lines from SIYU_RUN_EXTRA (";"-separated): long-running ones run beside the server;
    # one-shot ones (prefixed "once:") run to completion without stopping the others.
    once = []
    extra = os.environ.get("SIYU_RUN_EXTRA", "")
    for line in filter(None, (s.strip() for s in extra.split(";"))):
        if line.startswith("once:"):
            once.append(subprocess.Popen([*exe, *line[len("once:"):].split()]))
        else:
            procs.append(subprocess.Popen([*exe, *line.split()]))

    def stop(*_):
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    try:
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    stop()
    for p in once:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
    return 0


def wecom_sim(argv: list[str]) -> int:
    """The WeCom + official-account simulator (its own process and state file, no Django)."""
    from siyu.channels.wecom.simulator.cli import main as sim_main

    return sim_main(argv)


COMMANDS = {"serve": serve, "worker": worker, "run": run, "wecom-sim": wecom_sim}
ALIASES = {"check": "siyu_check"}  # Django's own check stays reachable as `siyu django-check`


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in COMMANDS:
        return COMMANDS[argv[0]](argv[1:])
    _django_setup()
    from django.core.management import execute_from_command_line

    if argv and argv[0] in ALIASES:
        argv[0] = ALIASES[argv[0]]
    elif argv and argv[0] == "django-check":
        argv[0] = "check"
    elif argv and "-" in argv[0] and not argv[0].startswith("-"):
        argv[0] = argv[0].replace("-", "_")  # `siyu bench-data` is the management command bench_data
    execute_from_command_line(["siyu", *argv])
    return 0


if __name__ == "__main__":
    sys.exit(main())
