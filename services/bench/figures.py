"""What a benchmark reports: throughput and latency percentiles."""

import statistics
from dataclasses import dataclass


@dataclass(frozen=True)
class Figures:
    messages: int
    seconds: float
    per_second: float
    p50_ms: float
    p99_ms: float


def percentiles(seconds: list[float]) -> dict[str, float]:
    """p50 and p99 of latencies given in seconds, in milliseconds."""
    ordered = sorted(seconds)
    return {
        "p50": round(statistics.median(ordered) * 1000, 2),
        "p99": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2),
    }


def figures(count: int, seconds: float, latencies: list[float]) -> Figures:
    latency = percentiles(latencies)
    return Figures(
        messages=count,
        seconds=round(seconds, 3),
        per_second=round(count / seconds, 1),
        p50_ms=latency["p50"],
        p99_ms=latency["p99"],
    )
