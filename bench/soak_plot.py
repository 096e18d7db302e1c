"""``make soak``'s picture: resident memory and p95 latency, minute by minute.

Drawn with matplotlib's Agg backend (a PNG, no display): one line per process kind (a kind's
workers by the largest of them) and one per flow, the end of the warm-up marked; over each
flow's line, a bar across its first and its last window at their median p95 (what the latency
criterion compares).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator


def plot(report: dict[str, Any], path: Path) -> None:
    """Write the soak ``report``'s memory and p95 over time to ``path`` (PNG)."""
    minutes = report["minutes"]
    warmup = report["settings"]["warmup_minutes"]
    figure = Figure(figsize=(10, 8), layout="constrained")
    FigureCanvasAgg(figure)
    memory, latency = figure.subplots(2, 1, sharex=True)

    samples = [(0, report["start"]["rss_kib"])] + [(m["minute"], m["rss_kib"]) for m in minutes]
    for kind in report["start"]["rss_kib"]:
        largest = [
            max(rss[kind].values()) / 1024 if rss.get(kind) else math.nan for _, rss in samples
        ]
        label = f"{kind}s (largest)" if kind.endswith("worker") else kind
        memory.plot([minute for minute, _ in samples], largest, marker=".", label=label)
    memory.set_ylabel("resident memory, MiB")
    memory.set_title("Resident memory of the demo's processes")
    memory.legend(fontsize="small", ncols=2)

    flows = sorted({flow for m in minutes for flow in m["latency_ms"]})
    drift = report["criteria"]["latency"]["flows"]
    for flow in flows:
        p95 = [m["latency_ms"].get(flow, {}).get("p95") for m in minutes]
        values = [math.nan if v is None else v for v in p95]
        (line,) = latency.plot([m["minute"] for m in minutes], values, marker=".", label=flow)
        # What the latency criterion compares: the median p95 of the first and last windows.
        for end in ("first_window", "last_window"):
            if end in drift.get(flow, {}):
                window = drift[flow][end]
                latency.plot(
                    [window["minutes"][0] - 0.4, window["minutes"][-1] + 0.4],
                    [window["median_p95"]] * 2,
                    color=line.get_color(),
                    linewidth=3,
                    alpha=0.5,
                )
    latency.set_ylabel("p95, ms")
    latency.set_xlabel("minute")
    latency.set_title("p95 latency per flow (requests without a scenario)")
    latency.legend(fontsize="small", ncols=3)

    latency.set_ylim(bottom=0)
    latency.xaxis.set_major_locator(MaxNLocator(integer=True))
    for axes in (memory, latency):
        axes.axvline(warmup, color="grey", linestyle="--", linewidth=1)
        axes.annotate(
            " end of warm-up",
            (warmup, 0.02),
            xycoords=("data", "axes fraction"),
            fontsize="small",
            color="grey",
        )
        axes.grid(alpha=0.3)
    figure.suptitle(
        f"make soak: {report['settings']['minutes']} min, {report['settings']['users']} shoppers,"
        f" {report['when']}"
    )
    figure.savefig(path, dpi=100)
