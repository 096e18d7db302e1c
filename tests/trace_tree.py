"""A trace as README.md draws it: one line per span, children under their parent.

``order-service  POST /orders  SERVER``; SQL spans name their database, which differs per run,
so it reads ``<database>``.
"""

from __future__ import annotations

import re

from devkit.otlp_receiver import OtlpReceiver, ReceivedSpan
from devkit.process import wait_until_quiet
from tests.docs import first_code_block

KINDS = {1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}
Line = tuple[int, str, str, str]  # depth, service, span name, kind
_DRAWN_LINE = re.compile(
    r"^(?P<prefix>[ │├└]*)(?P<service>\S+)\s+(?P<name>.+?)\s+"
    r"(?P<kind>INTERNAL|SERVER|CLIENT|PRODUCER|CONSUMER)\b"
)


def settled_trace(
    receiver: OtlpReceiver, trace_id: str, quiet_s: float = 1.0
) -> list[ReceivedSpan]:
    """The spans of ``trace_id`` once no new one has arrived for ``quiet_s`` (at most 20 s)."""
    return wait_until_quiet(
        lambda: [s for s in receiver.spans() if s.trace_id == trace_id],
        quiet_s,
        timeout_s=20,
        ready=bool,
    )


def tree_lines(spans: list[ReceivedSpan]) -> list[Line]:
    """Depth-first, children in start order."""
    children: dict[str, list[ReceivedSpan]] = {}
    for span in spans:
        children.setdefault(span.parent_span_id, []).append(span)
    lines: list[Line] = []

    def visit(parent: str, depth: int) -> None:
        for span in sorted(children.get(parent, []), key=lambda s: s.start_ns):
            lines.append((depth, span.service, _readable_name(span), KINDS[span.kind]))
            visit(span.span_id, depth + 1)

    visit("", 0)
    return lines


def draw(lines: list[Line]) -> str:
    """The lines as README.md shows them (without its notes column)."""
    drawn = []
    for depth, service, name, kind in lines:
        prefix = "  " * (depth - 1) + "└ " if depth else ""
        drawn.append(f"{prefix}{service}  {name}  {kind}")
    return "\n".join(drawn)


def drawn_tree(page: str, heading: str) -> list[Line]:
    """The tree in the first code block under ``heading`` of ``page`` (``README.md``)."""
    lines: list[Line] = []
    for raw in first_code_block(page, heading).strip("\n").splitlines():
        match = _DRAWN_LINE.match(raw)
        assert match, f"not a tree line: {raw!r}"
        depth = len(match["prefix"]) // 2
        lines.append((depth, match["service"], match["name"].strip(), match["kind"]))
    return lines


def without_begin(lines: list[Line]) -> list[Line]:
    """The tree without ``BEGIN`` spans (leaves: no other line moves)."""
    return [line for line in lines if not line[2].startswith("BEGIN ")]


def _readable_name(span: ReceivedSpan) -> str:
    if "db.system" in span.attributes or "db.system.name" in span.attributes:
        verb = span.name.split(" ", 1)[0]
        return f"{verb} <database>"
    return span.name
