"""``make soak``'s latency criterion, on made-up minutes: it judges drift, not a minute's noise."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from bench.soak import drift_window, judge, p95_drift

# 25 steady minutes of an order's p95 (ms) on a quiet machine: flat around 28-29, but single
# minutes of ~130 requests leave the 20 % band now and then -- the first steady one included.
NOISY_FLAT = [35.2, 28.0, 27.1, 29.4, 21.9, 28.3, 30.2, 27.7, 28.8, 36.0, 28.1, 27.5, 29.0]
NOISY_FLAT += [28.6, 22.1, 29.9, 28.4, 27.9, 34.9, 28.2, 29.3, 28.7, 27.6, 29.1, 29.1]
# The same noise on a p95 that climbs (or falls) 1.5 % a minute: 30 % over the 20 minutes between
# the windows' middles.
DRIFTING_UP = [p95 * (1 + 0.015 * minute) for minute, p95 in enumerate(NOISY_FLAT)]
DRIFTING_DOWN = [p95 * (1 - 0.015 * minute) for minute, p95 in enumerate(NOISY_FLAT)]


def series(p95s: Sequence[float | None], first_minute: int = 6) -> list[tuple[int, float | None]]:
    """``p95s`` as the steady minutes from ``first_minute`` on (a 5-minute warm-up before)."""
    return [(first_minute + i, p95) for i, p95 in enumerate(p95s)]


def test_a_noisy_but_flat_p95_passes_though_single_minutes_leave_the_band() -> None:
    verdict = p95_drift(series(NOISY_FLAT))
    assert verdict["passed"], verdict
    assert verdict["first_window"]["minutes"] == [6, 7, 8, 9, 10]
    assert verdict["last_window"]["minutes"] == [26, 27, 28, 29, 30]
    assert (verdict["first_window"]["median_p95"], verdict["last_window"]["median_p95"]) == (
        28.0,
        29.1,
    )
    # What the minute-by-minute criterion failed on: shown, no longer deciding.
    assert [m["minute"] for m in verdict["minutes_outside"]] == [6, 10, 15, 20, 24]


@pytest.mark.parametrize("p95s", [DRIFTING_UP, DRIFTING_DOWN], ids=["up", "down"])
def test_a_real_drift_fails(p95s: list[float]) -> None:
    verdict = p95_drift(series(p95s))
    assert not verdict["passed"], verdict
    assert abs(verdict["change"]) > 0.20


def test_minutes_without_requests_are_left_out_of_the_windows() -> None:
    verdict = p95_drift(series([30.0, None, 31.0, 29.0, None, 30.0]))
    assert verdict["window_minutes"] == 2
    assert verdict["first_window"] == {"minutes": [6, 8], "median_p95": 30.5}
    assert verdict["last_window"] == {"minutes": [9, 11], "median_p95": 29.5}
    assert p95_drift(series([None, None])) == {"passed": True, "window_minutes": 0, "change": None}


@pytest.mark.parametrize(
    ("steady_minutes", "window"),
    [(1, 1), (2, 1), (3, 1), (4, 2), (9, 4), (10, 5), (25, 5), (120, 5)],
)
def test_the_window_is_five_minutes_or_half_a_short_run(steady_minutes: int, window: int) -> None:
    assert drift_window(steady_minutes) == window


def minute(number: int, p95: float) -> dict[str, Any]:
    """A minute's record as the soak writes it, reduced to what the criteria read."""
    return {
        "minute": number,
        "rss_kib": {"users worker": {"7": 90_000}},
        "latency_ms": {"order": {"requests": 130, "p50": p95 / 2, "p95": p95, "p99": p95 * 2}},
    }


@pytest.mark.parametrize(
    ("p95s", "passed"), [(NOISY_FLAT, True), (DRIFTING_UP, False)], ids=["flat", "drifting"]
)
def test_judge_leaves_the_warm_up_out_and_reports_the_windows(
    p95s: list[float], passed: bool
) -> None:
    warm_up = [minute(n, 400.0 - 60 * n) for n in range(1, 6)]  # slow while it warms up
    minutes = warm_up + [minute(n, p95) for n, p95 in enumerate(p95s, start=6)]
    start = {"rss_kib": minutes[0]["rss_kib"]}
    criteria = judge(start, minutes, 5, {"expected": 10, "received": 10}, [])
    latency = criteria["latency"]
    assert latency["passed"] is passed
    assert (latency["first_steady_minute"], latency["window_minutes"]) == (6, 5)
    assert latency["flows"]["order"]["first_window"]["minutes"] == [6, 7, 8, 9, 10]
    assert [c["passed"] for name, c in criteria.items() if name != "latency"] == [True] * 3
