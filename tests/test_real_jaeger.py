"""The demo's main path for real: real headless Chromium clicks the page, the clicks' spans cross
the real OpenTelemetry Collector to real Jaeger, and the trace view under each click reads them
back from Jaeger through the frontend's ``/api/traces/<id>``.

What runs for real: the three services under gunicorn (SQLite), the frontend server, Chromium,
and the session's Collector and Jaeger (``tests/conftest.py``) with the project's own config
files (``common.yaml`` + ``jaeger.yaml``; ``jaeger-config.yaml``), as compose and the ``jaeger``
overlay run them. What is configured: only the addresses (``OTEL_EXPORTER_OTLP_ENDPOINT``,
``COLLECTOR_OTLP_HTTP_URL``, ``JAEGER_QUERY_URL``, ``TRACE_UI_URL``), free ports where compose
has service names; the Collector's ``debug`` exporter prints the metrics and logs in its log.

Links too: spans with OpenTelemetry span links, sent straight to Jaeger, come back as Jaeger's
translation of them (``FOLLOWS_FROM`` references after the parent's) and the view lists them.

One trace, two sources: the services also write their spans and logs as ``make run`` does
(``OTEL_TRACES_EXPORTER=span_lines,otlp``: the SDK takes a list of exporters, each with its own
batch), and each span export of the browser is copied to a second frontend server, ``make
run``'s, which appends it to the same spans file. So each click's trace is read from Jaeger and
from the files, and both must draw the same tree (docs/backends.md#one-trace-two-sources).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
import requests
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from playwright.sync_api import Browser, Locator, Page, Request, expect

from devkit.backends import Collector, Jaeger
from tests.helpers import UI_TIMEOUT_MS, page_at
from tests.nginx_frontend import start_frontend
from tests.stack import ROOT, ServiceProcess, Stack, base_env

OTLP_PATH = "/otlp-http/v1/traces"
# A click's whole trace: the browser's spans leave within half a second, the services' within a
# tenth, the Collector batches for at most 200 ms; the view then needs a few quiet looks. With
# room for a busy machine.
WHOLE_TRACE_MS = 30_000
# Both sources holding every span of a trace; the Collector's log holding what was exported.
ARRIVAL_S = 30.0
# The four clicks: the page's happy path, and a transfer the users service refuses.
CLICKS = ["create user", "transfer", "order", "payment failure"]
# Where the times of one span may differ: the spans file rounds to the nearest microsecond,
# Jaeger truncates.
ROUNDING_US = 1


T = TypeVar("T")


def poll(read: Callable[[], T], done: Callable[[T], bool], timeout_s: float = ARRIVAL_S) -> T:
    """``read()`` until ``done`` says its answer will do, or the deadline: the last answer."""
    deadline = time.monotonic() + timeout_s
    while not done(answer := read()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return answer


@dataclass
class Demo:
    """The stack; the page's origin, reading traces from Jaeger; ``make run``'s frontend server,
    reading them from the files; and where the Collector's log stood before the stack started."""

    stack: Stack
    frontend: ServiceProcess
    files_frontend: ServiceProcess
    collector_log_start: int


@pytest.fixture(scope="module")
def demo(
    database_url: str,
    collector: Collector,
    jaeger: Jaeger,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Demo]:
    work = tmp_path_factory.mktemp("real-jaeger")
    files = {"SPANS_FILE": str(work / "spans.log"), "LOGS_FILE": str(work / "logs.log")}
    collector_log_start = len(collector.log())  # what other modules' stacks left there
    env = base_env(
        DATABASE_URL=database_url,
        OTEL_EXPORTER_OTLP_ENDPOINT=collector.endpoint,
        OTEL_TRACES_EXPORTER="span_lines,otlp",
        OTEL_LOGS_EXPORTER="log_lines,otlp",
        PAYMENT_FAILURE_RATE="1",  # every payment-failure transfer fails: no retry loop
        # An exemplar lives one export: 3 s leaves a busy machine's browser time to look.
        OTEL_METRIC_EXPORT_INTERVAL="3000",
        **files,
    )
    with ExitStack() as running:
        stack = Stack.start(work, env)
        running.callback(stack.stop)
        page_origin = stack.frontend_env(
            COLLECTOR_OTLP_HTTP_URL=collector.http_endpoint,
            COLLECTOR_PROMETHEUS_URL=collector.prometheus_url,
            JAEGER_QUERY_URL=jaeger.query_url,
            TRACE_UI_URL=f"{jaeger.query_url}/trace/{{trace_id}}",
        )
        frontend = start_frontend("python-server", page_origin, tmp_path_factory.mktemp("page"))
        running.callback(frontend.stop)
        assert isinstance(frontend, ServiceProcess)
        files_frontend = ServiceProcess(
            "frontend", stack.frontend_env(**files), work / "files-frontend.log"
        )
        running.callback(files_frontend.stop)
        files_frontend.start().wait_ready()
        yield Demo(stack, frontend, files_frontend, collector_log_start)


@dataclass(frozen=True)
class Click:
    """A click's result box (its trace view under it) and its trace id."""

    box: Locator
    trace_id: str

    @property
    def view(self) -> Locator:
        return self.box.locator(".inline-trace")


@contextmanager
def demo_page(browser: Browser, demo: Demo) -> Iterator[Page]:
    """The page on its origin, each span export of the browser copied to the files' frontend."""

    def copy_span_export(request: Request) -> None:
        if request.method != "POST" or not request.url.endswith(OTLP_PATH):
            return
        body = request.post_data_buffer
        if body:  # not the page's empty export that asks how the last one went
            copied = requests.post(
                demo.files_frontend.url + OTLP_PATH,
                data=body,
                headers={"Content-Type": "application/x-protobuf"},
                timeout=10,
            )
            copied.raise_for_status()

    context = browser.new_context(viewport={"width": 1100, "height": 1000})
    try:
        context.on("request", copy_span_export)
        page = context.new_page()
        page.set_default_timeout(UI_TIMEOUT_MS)
        page.goto(demo.frontend.url)
        expect(page.locator("#product-select option").first).to_be_attached()
        yield page
    finally:
        context.close()


def click(page: Page, button: str, box_id: str) -> Click:
    """Click ``button``; wait for its new result and for the trace view under it to be whole."""
    box = page.locator(f"#{box_id}")
    trace_id = box.locator(".trace-id")
    before = trace_id.inner_text() if trace_id.count() else ""
    page.get_by_role("button", name=button).click()
    expect(trace_id).not_to_have_text(before)
    expect(trace_id).to_have_text(re.compile(r"^[0-9a-f]{32}$"))
    done = Click(box, trace_id.inner_text())
    expect(done.view.locator(".complete")).to_be_visible(timeout=WHOLE_TRACE_MS)
    return done


@pytest.fixture(scope="module")
def clicks(browser: Browser, demo: Demo) -> Iterator[dict[str, Click]]:
    """The four clicks, each on a page kept open with its view: the happy path on one, the
    payment failure (which needs a new user and redraws both boxes) on another."""
    with demo_page(browser, demo) as happy, demo_page(browser, demo) as failing:
        done = {"create user": click(happy, "Create User", "create-user-result")}
        happy.get_by_label("Amount (dollars)").fill("1000")
        done["transfer"] = click(happy, "Transfer Fund", "transfer-result")
        done["order"] = click(happy, "Place Order", "order-result")
        failing.locator("#scenario").select_option("payment-failure")
        click(failing, "Create User", "create-user-result")
        done["payment failure"] = click(failing, "Transfer Fund", "transfer-result")
        yield done


@dataclass(frozen=True)
class Expected:
    """What a click's view shows without opening anything."""

    status: str
    root: str
    services: frozenset[str]
    call: str
    statements: tuple[str, ...] = field(default=())


HAPPY_PATH = {
    "create user": Expected(
        "201",
        "click Create User",
        frozenset({"frontend", "user-service"}),
        "POST /users → 201",
        ("INSERT INTO users",),
    ),
    "transfer": Expected(
        "200",
        "click Transfer Fund",
        frozenset({"frontend", "payment-service", "user-service"}),
        "PUT /payments/transfer/id/<id:user_id> → 200",
        ("UPDATE users SET amount=(users.amount + ?)", "INSERT INTO credits"),
    ),
    "order": Expected(
        "201",
        "click Place Order",
        frozenset({"frontend", "order-service", "user-service"}),
        "POST /orders → 201",
        ("UPDATE users SET amount=(users.amount - ?)", "INSERT INTO orders"),
    ),
}


def services_of(rows: Locator) -> set[str | None]:
    return {rows.nth(i).get_attribute("data-service") for i in range(rows.count())}


@pytest.mark.parametrize("name", HAPPY_PATH)
def test_each_click_shows_its_whole_trace_read_from_jaeger(
    clicks: dict[str, Click], jaeger: Jaeger, name: str
) -> None:
    expected, done = HAPPY_PATH[name], clicks[name]
    expect(done.box.locator(".status")).to_contain_text(expected.status)
    rows = done.view.locator(".span-row")
    stored = jaeger.trace(done.trace_id)
    assert stored is not None
    assert rows.count() == len(stored["spans"])
    expect(rows.first.locator(".span-name")).to_have_text(expected.root)
    assert services_of(rows) == expected.services
    expect(done.view.locator(".fact.http", has_text=expected.call).first).to_be_visible()
    for statement in expected.statements:
        sql = done.view.locator(".fact.sql").filter(has_text=statement)
        expect(sql.first).to_be_visible()
    expect(done.view.locator(".span-row.error")).to_have_count(0)


def test_the_order_click_shows_its_metrics_from_the_collector_with_its_own_exemplar(
    clicks: dict[str, Click],
) -> None:
    """Beside the trace read from Jaeger: the order route's figures from the Collector's
    prometheus exporter (OpenMetrics, through the frontend's /api/metrics), with the exemplar
    that carries this click's trace id."""
    done = clicks["order"]
    row = done.box.locator(".inline-metrics .route-row[data-service='order-service']")
    expect(row).to_contain_text("POST /orders")
    expect(row.locator(".exemplar-trace-id")).to_have_text(done.trace_id, timeout=30_000)
    assert int(row.locator(".route-count").inner_text()) >= 1


def test_each_order_adds_one_to_the_count_the_collector_serves(
    browser: Browser, demo: Demo
) -> None:
    """Two more orders on a page of their own: the route's count, read from the Collector's
    exporter once it holds each order's exemplar, grows by one per click."""
    counts = []
    with demo_page(browser, demo) as page:
        click(page, "Create User", "create-user-result")
        page.get_by_label("Amount (dollars)").fill("1000")
        click(page, "Transfer Fund", "transfer-result")
        for _ in range(2):
            done = click(page, "Place Order", "order-result")
            row = done.box.locator(".inline-metrics .route-row[data-service='order-service']")
            expect(row.locator(".exemplar-trace-id")).to_have_text(done.trace_id, timeout=30_000)
            counts.append(int(row.locator(".route-count").inner_text()))
    assert counts[1] == counts[0] + 1, counts


def test_a_payment_failure_is_marked_where_it_started_in_jaegers_trace(
    clicks: dict[str, Click], jaeger: Jaeger
) -> None:
    done = clicks["payment failure"]
    expect(done.box.locator(".status")).to_contain_text("503")
    stored = jaeger.trace(done.trace_id)
    assert stored is not None
    rows = done.view.locator(".span-row")
    assert rows.count() == len(stored["spans"])
    expect(rows.first.locator(".span-name")).to_have_text("click Transfer Fund")
    assert services_of(rows) == {"frontend", "payment-service", "user-service"}
    marked = done.view.locator(".span-row.noticed")
    expect(marked).to_have_count(1)
    assert marked.get_attribute("data-service") == "user-service"
    expect(marked.locator(".span-name")).to_have_text("update user amount")
    expect(marked.locator(".fact.error")).to_contain_text("The ledger rejected this credit")
    expect(done.view.locator(".notice")).to_contain_text(
        "The failure started in user-service's “update user amount”"
    )
    assert done.view.locator(".span-row.error").count() >= 5
    # Jaeger keeps the exception on each span it passed through: listed once.
    expect(done.view.locator(".trace-logs .log.severity-error")).to_have_count(1)
    # Read from Jaeger: its tags name the instrumentation scope, which the files do not keep.
    marked.locator("summary").click()
    expect(marked.locator("tr", has_text="otel.scope.name")).to_contain_text("tracing-demo")


def test_the_smoke_check_passes_against_the_page_and_jaeger(demo: Demo, jaeger: Jaeger) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.smoke",
            "--base-url",
            demo.frontend.url,
            "--jaeger-url",
            jaeger.query_url,
        ],
        cwd=ROOT,
        env=base_env(),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "smoke check all passed" in result.stdout


@dataclass(frozen=True)
class DebugBatch:
    """One resource's part of what the Collector's ``debug`` exporter printed."""

    signal: str  # "Metrics" or "Log"
    service: str
    lines: list[str]


RESOURCE_HEADER = re.compile(r"Resource(Metrics|Log) #\d+ .*\bservice\.name=([\w.-]+)")
COLLECTOR_LINE = re.compile(r"^\d{4}-\d\d-\d\dT")


def debug_batches(log: list[str]) -> list[DebugBatch]:
    """The ``debug`` exporter's output in the Collector's ``log`` (verbosity normal): each
    ``ResourceMetrics #N``/``ResourceLog #N`` line with the lines printed under it."""
    batches: list[DebugBatch] = []
    current: list[str] | None = None
    for line in log:
        header = RESOURCE_HEADER.search(line)
        if header:
            current = []
            batches.append(DebugBatch(header[1], header[2], current))
        elif line.startswith("\t") or COLLECTOR_LINE.match(line):
            current = None  # the entry's closing fields, or the Collector's next line
        elif current is not None:
            current.append(line)
    return batches


def request_duration(route: str) -> str:
    """A pattern for the debug exporter's line of the server's request durations on ``route``."""
    return r"^http\.server\.request\.duration\{.*\bhttp\.route=" + re.escape(route) + "[,}]"


def test_the_metrics_and_logs_of_all_three_services_leave_the_collector_through_debug(
    demo: Demo, collector: Collector, clicks: dict[str, Click]
) -> None:
    # Each service's request duration for its click's route, and its log record in that trace.
    wanted = {
        ("Metrics", "user-service", request_duration("/users")),
        ("Metrics", "payment-service", request_duration("/payments/transfer/id/<id:user_id>")),
        ("Metrics", "order-service", request_duration("/orders")),
        ("Log", "user-service", re.escape(f"otelTraceID={clicks['create user'].trace_id}")),
        ("Log", "payment-service", re.escape(f"otelTraceID={clicks['transfer'].trace_id}")),
        ("Log", "order-service", re.escape(f"otelTraceID={clicks['order'].trace_id}")),
    }

    def missing() -> set[tuple[str, str, str]]:
        printed = debug_batches(collector.log_lines_since(demo.collector_log_start))
        return {
            (signal, service, pattern)
            for signal, service, pattern in wanted
            if not any(
                (batch.signal, batch.service) == (signal, service)
                and any(re.search(pattern, line) for line in batch.lines)
                for batch in printed
            )
        }

    assert poll(missing, lambda left: not left) == set()


def trace_from(origin: str, trace_id: str) -> dict[str, Any]:
    """The trace a frontend's ``/api/traces/<id>`` answers (empty until it has spans)."""
    answer = requests.get(f"{origin}/api/traces/{trace_id}", timeout=10)
    if answer.status_code == 404:
        return {"spans": [], "processes": {}}
    answer.raise_for_status()
    trace: dict[str, Any] = answer.json()["data"][0]
    return trace


def both_sources(demo: Demo, trace_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The trace from Jaeger and from the files, once both hold the same spans."""

    def read() -> tuple[dict[str, Any], dict[str, Any]]:
        from_jaeger, from_files = (
            trace_from(origin, trace_id) for origin in (demo.frontend.url, demo.files_frontend.url)
        )
        return from_jaeger, from_files

    def same_spans(pair: tuple[dict[str, Any], dict[str, Any]]) -> bool:
        ids = [{span["spanID"] for span in trace["spans"]} for trace in pair]
        return bool(ids[0]) and ids[0] == ids[1]

    return poll(read, same_spans)


# Of a span event, what the spans file keeps (shared.span_lines.span_line).
KEPT_EVENT_FIELDS = ("event", "exception.type", "exception.message")


def is_exception(log: dict[str, Any]) -> bool:
    return any(f["key"] == "event" and f["value"] == "exception" for f in log["fields"])


def drawn_tree(trace: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each span's place and content, less what the two sources are known to differ in: times,
    the scope tags (Jaeger's alone), and events other than exceptions (the files' log records,
    Jaeger's other events, and fields of an exception the files do not keep)."""
    services = {key: process["serviceName"] for key, process in trace["processes"].items()}
    tree = {}
    for span in trace["spans"]:
        exceptions = [
            [(f["key"], f["value"]) for f in log["fields"] if f["key"] in KEPT_EVENT_FIELDS]
            for log in span["logs"]
            if is_exception(log)
        ]
        tree[span["spanID"]] = {
            "references": span["references"],
            "service": services[span["processID"]],
            "name": span["operationName"],
            "tags": [tag for tag in span["tags"] if not tag["key"].startswith("otel.scope.")],
            "exceptions": exceptions,
        }
    return tree


@pytest.mark.parametrize("name", CLICKS)
def test_the_files_and_jaeger_hold_the_same_tree(
    demo: Demo, clicks: dict[str, Click], name: str
) -> None:
    from_jaeger, from_files = both_sources(demo, clicks[name].trace_id)
    jaeger_tree, files_tree = drawn_tree(from_jaeger), drawn_tree(from_files)
    assert files_tree.keys() == jaeger_tree.keys()
    for span_id, span in jaeger_tree.items():
        assert files_tree[span_id] == span, f"{span['service']}'s {span['name']!r}"
    files_spans = {span["spanID"]: span for span in from_files["spans"]}
    for span in from_jaeger["spans"]:
        twin = files_spans[span["spanID"]]
        assert abs(twin["startTime"] - span["startTime"]) <= ROUNDING_US, span["operationName"]
        assert abs(twin["duration"] - span["duration"]) <= ROUNDING_US, span["operationName"]
        end = span["startTime"] + span["duration"]
        # An exception: Jaeger has its own time; the files have none, so it is at the span's end.
        for thrown in (log for log in span["logs"] if is_exception(log)):
            assert span["startTime"] <= thrown["timestamp"] <= end
        for thrown in (log for log in twin["logs"] if is_exception(log)):
            assert thrown["timestamp"] == twin["startTime"] + twin["duration"]
    # Jaeger keeps each process's resource; the files keep its service name alone.
    assert all(process["tags"] for process in from_jaeger["processes"].values())
    assert all(not process["tags"] for process in from_files["processes"].values())


# What the trace view draws: each row (what it says unopened, its place, its details' keys in
# order) and the exceptions its logs list.
DRAWN_JS = """() => ({
    rows: [...document.querySelectorAll('.span-row')].map((row) => ({
        service: row.dataset.service,
        name: row.querySelector('.span-name').textContent,
        kind: row.querySelector('.span-kind')?.textContent || '',
        indent: row.querySelector('.span-label').style.paddingLeft,
        classes: row.className,
        facts: [...row.querySelectorAll('.fact')].map((f) => `${f.className}: ${f.textContent}`),
        keys: [...row.querySelectorAll('.span-details th')].map((th) => th.textContent),
    })),
    exceptions: [...document.querySelectorAll('.trace-logs .log.severity-error')].map(
        (log) => `${log.querySelector('.service').textContent}: ` +
            log.querySelector('.log-message').textContent),
})"""


def drawn(page: Page) -> dict[str, Any]:
    """What the trace page draws once it calls the trace complete, less the details the
    sources differ in (the scope tags, and the events listed as ``log @ …``)."""
    expect(page.locator(".complete")).to_be_visible(timeout=WHOLE_TRACE_MS)
    view: dict[str, Any] = page.evaluate(DRAWN_JS)
    for row in view["rows"]:
        row["keys"] = [key for key in row["keys"] if not key.startswith(("otel.scope.", "log @"))]
    return view


@pytest.mark.parametrize("name", CLICKS)
def test_the_trace_page_draws_both_sources_alike(
    browser: Browser, demo: Demo, clicks: dict[str, Click], name: str
) -> None:
    trace_id = clicks[name].trace_id
    both_sources(demo, trace_id)  # the files hold the whole trace too
    context = browser.new_context()
    try:
        # Side by side: both views look at their source at once.
        pages = []
        for origin in (demo.frontend.url, demo.files_frontend.url):
            page = context.new_page()
            page.set_default_timeout(UI_TIMEOUT_MS)
            page.goto(f"{origin}/traces/{trace_id}")
            pages.append(page)
        from_jaeger, from_files = (drawn(page) for page in pages)
    finally:
        context.close()
    assert len(from_jaeger["rows"]) == len(from_files["rows"]) > 0
    for jaeger_row, files_row in zip(from_jaeger["rows"], from_files["rows"], strict=True):
        assert files_row == jaeger_row
    assert from_files["exceptions"] == from_jaeger["exceptions"]


def test_opentelemetry_span_links_reach_the_view_as_jaeger_translates_them(
    browser: Browser, demo: Demo, jaeger: Jaeger
) -> None:
    """Spans sent straight to Jaeger with the SDK: a job queued in one trace and run by a batch
    in another. The batch's item links to the span that queued it; the acknowledgement, the
    item's sibling, links to the item."""
    provider = TracerProvider(resource=Resource.create({"service.name": "link-test"}))
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"http://{jaeger.otlp_endpoint}"))
    )
    tracer = provider.get_tracer("link-test")
    try:
        with tracer.start_as_current_span("queue job", kind=trace.SpanKind.PRODUCER) as queued:
            pass
        with tracer.start_as_current_span("run batch") as batch:
            to_queued = trace.Link(queued.get_span_context())
            with tracer.start_as_current_span("process item", links=[to_queued]) as item:
                pass
            to_item = trace.Link(item.get_span_context())
            with tracer.start_as_current_span("acknowledge", links=[to_item]) as ack:
                pass
    finally:
        provider.shutdown()
    ids = {
        name: trace.format_span_id(span.get_span_context().span_id)
        for name, span in {"queued": queued, "batch": batch, "item": item, "ack": ack}.items()
    }
    queued_trace = trace.format_trace_id(queued.get_span_context().trace_id)
    batch_trace = trace.format_trace_id(batch.get_span_context().trace_id)
    stored = poll(
        lambda: jaeger.trace(batch_trace) or {"spans": []}, lambda t: len(t["spans"]) == 3
    )
    assert len(stored["spans"]) == 3
    # Jaeger's translation: the parent first, as CHILD_OF; each link after it, as FOLLOWS_FROM.
    references = {span["spanID"]: span["references"] for span in stored["spans"]}
    assert references[ids["item"]] == [
        {"refType": "CHILD_OF", "traceID": batch_trace, "spanID": ids["batch"]},
        {"refType": "FOLLOWS_FROM", "traceID": queued_trace, "spanID": ids["queued"]},
    ]
    assert references[ids["ack"]][1] == {
        "refType": "FOLLOWS_FROM",
        "traceID": batch_trace,
        "spanID": ids["item"],
    }
    with page_at(browser, f"{demo.frontend.url}/traces/{batch_trace}") as viewer:
        # A link to another trace is not a parent to wait for.
        expect(viewer.locator(".complete")).to_be_visible(timeout=WHOLE_TRACE_MS)
        rows = viewer.locator(".span-row")
        expect(rows.locator(".span-name")).to_have_text(
            ["run batch", "process item", "acknowledge"]
        )
        # Both linked spans stay under their parent; the rows say they have a link.
        expect(viewer.locator(".span-row.follows-from")).to_have_count(0)
        for row in (rows.nth(1), rows.nth(2)):
            expect(row.locator(".link-mark")).to_have_text("🔗 1 link")
            row.locator("summary").click()
        item_links = rows.nth(1).locator("tr:has(th:text-is('link')) td")
        expect(item_links).to_have_text(
            f"follows from span {ids['queued']} of trace {queued_trace}"
        )
        expect(item_links.locator("a")).to_have_attribute("href", f"/traces/{queued_trace}")
        expect(rows.nth(2).locator("tr:has(th:text-is('link')) td")).to_have_text(
            f"follows from link-test's “process item” (span {ids['item']})"
        )
