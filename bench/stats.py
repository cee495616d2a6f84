"""Percentiles of latency samples (milliseconds)."""

from __future__ import annotations

import statistics


def summary(samples_ms: list[float]) -> dict[str, float]:
    s = sorted(samples_ms)
    if not s:
        return {}

    def pct(p: float) -> float:
        k = max(0, min(len(s) - 1, round(p / 100 * (len(s) - 1))))
        return round(s[k], 3)

    return {"n": len(s), "p50_ms": pct(50), "p95_ms": pct(95), "p99_ms": pct(99), "max_ms": round(s[-1], 3),
            "mean_ms": round(statistics.fmean(s), 3)}
