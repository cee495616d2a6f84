"""`make bench [NAME=…]`: run benchmarks and print one JSON document per benchmark.

Each module ``bench/bench_<name>.py`` defines ``run(args) -> dict``; this harness adds the environment
(git sha, database, machine) so every figure says what it measured. Benchmarks never assert timings.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _git_sha() -> str:
    try:
        return subprocess.check_output(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, text=True).strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def available() -> list[str]:
    return sorted(m.name[len("bench_"):] for m in pkgutil.iter_modules([str(HERE)]) if m.name.startswith("bench_"))


def main() -> int:
    parser = argparse.ArgumentParser(prog="make bench")
    parser.add_argument("name", nargs="?", default="", help=f"one of {available()} (default: all)")
    parser.add_argument("--quick", action="store_true", help="smaller data for a smoke run")
    args, rest = parser.parse_known_args()
    names = [args.name] if args.name else available()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "siyu.settings")
    for name in names:
        mod = importlib.import_module(f"bench.bench_{name}")
        started = time.time()
        result = mod.run(args, rest)
        doc = {
            "benchmark": name,
            "git_sha": _git_sha(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
            "seconds": round(time.time() - started, 1),
            **result,
        }
        print(json.dumps(doc, ensure_ascii=False, indent=2))
        out = HERE / "results"
        out.mkdir(exist_ok=True)
        (out / f"{name}.json").write_text(json.dumps(doc, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
