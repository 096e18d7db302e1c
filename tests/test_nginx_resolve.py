"""The frontend's nginx finds the services by name at request time, as a container restart needs.

nginx runs the image's template (tests/nginx_frontend.py) with its resolver pointed at a DNS
server the test controls. The services are small HTTP stubs that say which address answered, on
one port at two loopback addresses: moving a name from 127.0.0.1 to 127.0.0.2 is what a
restarted container's new address looks like to nginx.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from dnslib import QTYPE, RCODE, RR, A, DNSRecord
from dnslib.server import DNSLogger, DNSServer
from playwright.sync_api import Browser, expect

from tests.nginx_frontend import NginxFrontend, local_resolvers, start_frontend

OLD_ADDRESS = "127.0.0.1"
NEW_ADDRESS = "127.0.0.2"
# The frontend's URLs as docker-compose.yml sets them: compose's service names.
SERVICE_NAMES = {
    "USER_URL": "users",
    "PAYMENT_URL": "payment",
    "ORDER_URL": "order",
    "COLLECTOR_OTLP_HTTP_URL": "otel-collector",
    "JAEGER_QUERY_URL": "jaeger",
    "COLLECTOR_PROMETHEUS_URL": "otel-collector",
}
# The template's `resolver ... valid=10s`, plus room for a machine busy with other work.
FOLLOWS_WITHIN_S = 60.0
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CATALOG = [{"id": 1, "name": "Coffee mug", "price": 1200}]
# The stubs' header: which loopback address answered.
ANSWERED_BY = "X-Answered-By"


class NameServer:
    """A DNS server on 127.0.0.1 answering A records from a table the test edits; any other
    name is NXDOMAIN. It counts the questions, so a test can wait until nginx asks again."""

    def __init__(self, address: str = "127.0.0.1", port: int = 0) -> None:
        self._records: dict[str, str] = {}
        self._asked: dict[str, int] = {}
        self._changed = threading.Condition()
        self._server = DNSServer(self, address=address, port=port, logger=DNSLogger(logf=_quiet))
        self.port: int = self._server.server.server_address[1]
        self._server.start_thread()

    def answer(self, name: str, address: str) -> None:
        with self._changed:
            self._records[name] = address

    def forget(self, name: str) -> None:
        with self._changed:
            self._records.pop(name, None)

    def asked(self, name: str | None = None) -> int:
        """How many questions about ``name`` (about any name: None) came."""
        with self._changed:
            return self._asked.get(name, 0) if name else sum(self._asked.values())

    def resolve(self, request: DNSRecord, handler: object) -> DNSRecord:
        """dnslib's resolver interface: the reply to one question."""
        reply = request.reply()
        name = str(request.q.qname).rstrip(".")
        with self._changed:
            self._asked[name] = self._asked.get(name, 0) + 1
            address = self._records.get(name)
            self._changed.notify_all()
        if address is None:
            reply.header.rcode = RCODE.NXDOMAIN
        elif request.q.qtype == QTYPE.A:
            reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(address), ttl=600))
        return reply

    def close(self) -> None:
        self._server.stop()
        self._server.server.server_close()


def _quiet(line: str) -> None:
    """dnslib's logger prints every question; the tests read the counts instead."""


@dataclass
class Seen:
    """One request a stub got."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Stub:
    """Every service on one address: it answers with a JSON echo of the request (the catalog on
    /products), and says in a header which address answered."""

    address: str
    port: int
    seen: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                stub._handle(self)

            do_GET = do_PUT = do_POST = _handle  # noqa: N815 - http.server's naming

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer((self.address, self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        body = request.rfile.read(int(request.headers.get("Content-Length") or 0))
        headers = {name.lower(): value for name, value in request.headers.items()}
        self.seen.append(Seen(request.command, request.path, headers, body))
        echo = {"host": headers.get("host"), "method": request.command, "path": request.path}
        encoded = json.dumps(CATALOG if request.path == "/products" else echo).encode()
        request.send_response(200)
        request.send_header(ANSWERED_BY, self.address)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(encoded)))
        request.end_headers()
        request.wfile.write(encoded)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _stubs_on_one_port() -> tuple[Stub, Stub]:
    """A stub at the old and at the new address, on the same port: the URLs carry the port."""
    for _ in range(20):
        new = Stub(NEW_ADDRESS, 0)
        try:
            return Stub(OLD_ADDRESS, new._server.server_address[1]), new
        except OSError:  # that port is taken on 127.0.0.1: another one
            new.close()
    raise AssertionError("no port free on both loopback addresses")


@dataclass
class Demo:
    """The frontend's nginx, the DNS server it asks, and the services' two addresses."""

    dns: NameServer
    old: Stub
    new: Stub
    workdir: Path
    nginx: NginxFrontend | None = None

    def start_nginx(self, resolvers: str | None = None) -> NginxFrontend:
        variables = {
            variable: f"http://{name}:{self.old.port}" for variable, name in SERVICE_NAMES.items()
        }
        variables["TRACE_UI_URL"] = "http://localhost:16686/trace/{trace_id}"
        # nginx's resolver takes address:port: this test's DNS server in place of the platform's.
        variables["NGINX_LOCAL_RESOLVERS"] = resolvers or f"127.0.0.1:{self.dns.port}"
        server = start_frontend("nginx", variables, self.workdir)
        assert isinstance(server, NginxFrontend)
        self.nginx = server
        return server

    def answer_all(self, address: str) -> None:
        for name in SERVICE_NAMES.values():
            self.dns.answer(name, address)


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    dns = NameServer()
    old, new = _stubs_on_one_port()
    made = Demo(dns, old, new, tmp_path)
    yield made
    if made.nginx is not None:
        made.nginx.stop()
    old.close()
    new.close()
    dns.close()


def _until(
    ask: Callable[[], requests.Response],
    done: Callable[[requests.Response], bool],
    timeout: float = FOLLOWS_WITHIN_S,
) -> requests.Response:
    """Ask again until ``done`` holds for the answer; the last answer is in the failure."""
    deadline = time.monotonic() + timeout
    while True:
        answer = ask()
        if done(answer):
            return answer
        if time.monotonic() >= deadline:
            raise AssertionError(f"not done in {timeout}s: {answer.status_code} {answer.text}")
        time.sleep(0.2)


def _answered_by(address: str) -> Callable[[requests.Response], bool]:
    return lambda answer: answer.ok and answer.headers.get(ANSWERED_BY) == address


# The page's paths: what the browser asks, the name nginx must look up, the path it must reach.
PATHS = {
    "users": (
        "GET",
        "/users/7/credits?limit=5&x=a%20b",
        "users",
        "/users/7/credits?limit=5&x=a%20b",
    ),
    "transfer": ("PUT", "/payments/transfer/id/7", "payment", "/payments/transfer/id/7"),
    "order": ("POST", "/orders", "order", "/orders"),
    "history": ("GET", "/orders?user_id=7&limit=5", "order", "/orders?user_id=7&limit=5"),
    "catalog": ("GET", "/products", "order", "/products"),
    # /otlp-http/ is the page's name for the collector's OTLP/HTTP root.
    "browser-spans": ("POST", "/otlp-http/v1/traces", "otel-collector", "/v1/traces"),
    "trace-view": ("GET", f"/api/traces/{TRACE_ID}", "jaeger", f"/api/traces/{TRACE_ID}"),
    # The collector's prometheus exporter serves its metrics at /metrics.
    "metrics": ("GET", "/api/metrics", "otel-collector", "/metrics"),
}


@pytest.mark.parametrize(("method", "path", "name", "upstream_path"), PATHS.values(), ids=PATHS)
def test_each_path_reaches_its_service_by_name_at_the_same_upstream_path(
    demo: Demo, method: str, path: str, name: str, upstream_path: str
) -> None:
    demo.answer_all(OLD_ADDRESS)
    nginx = demo.start_nginx()
    headers = {
        "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01",
        "Idempotency-Key": '"8e03978e-40d5-43e8-bc93-6894a57f9324"',
        "Content-Type": "application/json",
    }
    body = b'{"amount": 1250}' if method != "GET" else b""
    answer = requests.request(method, nginx.url + path, headers=headers, data=body, timeout=30)
    assert answer.status_code == 200, answer.text
    (seen,) = demo.old.seen
    assert (seen.method, seen.path, seen.body) == (method, upstream_path, body)
    # The Host the service sees is the URL's, as without a resolver.
    assert seen.headers["host"] == f"{name}:{demo.old.port}"
    assert seen.headers["traceparent"] == headers["traceparent"]
    assert seen.headers["idempotency-key"] == headers["Idempotency-Key"]
    assert demo.dns.asked(name) >= 1


def test_the_metrics_path_asks_the_exporter_for_openmetrics_whatever_the_page_accepts(
    demo: Demo,
) -> None:
    """The exporter answers the older text format, which has no exemplars, unless asked."""
    demo.answer_all(OLD_ADDRESS)
    nginx = demo.start_nginx()
    answer = requests.get(nginx.url + "/api/metrics", headers={"Accept": "*/*"}, timeout=30)
    assert answer.status_code == 200, answer.text
    (seen,) = demo.old.seen
    assert seen.headers["accept"] == "application/openmetrics-text; version=1.0.0"


def test_a_service_that_comes_back_at_another_address_is_reached_there(demo: Demo) -> None:
    demo.answer_all(OLD_ADDRESS)
    nginx = demo.start_nginx()
    for method, path, _, _ in PATHS.values():
        first = requests.request(method, nginx.url + path, timeout=30)
        assert _answered_by(OLD_ADDRESS)(first), first.text

    # Every service restarts: the old address stops answering, the names move to the new one.
    demo.old.close()
    asked_before = {name: demo.dns.asked(name) for name in SERVICE_NAMES.values()}
    demo.answer_all(NEW_ADDRESS)
    for method, path, name, _ in PATHS.values():
        _until(
            lambda: requests.request(method, nginx.url + path, timeout=30),  # noqa: B023
            _answered_by(NEW_ADDRESS),
        )
        assert demo.dns.asked(name) > asked_before[name], f"nginx did not look {name} up again"
    # Each at its own upstream path, once (the tries before went to the old address).
    assert [seen.path for seen in demo.new.seen] == [path for *_, path in PATHS.values()]
    assert nginx.process is not None and nginx.process.poll() is None, "nginx was not restarted"


def _unreachable(service: str, why: str = "") -> dict[str, str]:
    return {
        "error": "upstream_unavailable",
        "message": f"The {service} is unreachable from the frontend{why}.",
    }


def _no_name(service: str, name: str) -> dict[str, str]:
    return _unreachable(service, f": its name {name} does not resolve (yet)")


NO_TRACE_SOURCE = {
    "error": "no_trace_source",
    "message": (
        "No Jaeger query service answers at JAEGER_QUERY_URL: "
        "follow the trace link to the trace UI."
    ),
}
NO_METRICS_SOURCE = {
    "error": "no_metrics_source",
    "message": (
        "No metrics endpoint answers at COLLECTOR_PROMETHEUS_URL: "
        "the services send their metrics to the metrics backend."
    ),
}
# What nginx answers while a name does not resolve, or resolves where nothing listens.
UNREACHABLE = {
    "users": (502, _no_name("users service", "users"), _unreachable("users service")),
    "transfer": (502, _no_name("payment service", "payment"), _unreachable("payment service")),
    "order": (502, _no_name("order service", "order"), _unreachable("order service")),
    "history": (502, _no_name("order service", "order"), _unreachable("order service")),
    "catalog": (502, _no_name("order service", "order"), _unreachable("order service")),
    "browser-spans": (
        502,
        {
            "error": "collector_unavailable",
            "message": (
                "The collector is unreachable from the frontend: its name otel-collector does "
                "not resolve (yet)."
            ),
        },
        {
            "error": "collector_unavailable",
            "message": "The collector is unreachable from the frontend.",
        },
    ),
    # No Jaeger beside the page (another backend): the page shows the trace link instead.
    "trace-view": (404, NO_TRACE_SOURCE, NO_TRACE_SOURCE),
    # No prometheus exporter (SigNoz): the page says where the metrics are instead.
    "metrics": (404, NO_METRICS_SOURCE, NO_METRICS_SOURCE),
}


@pytest.mark.parametrize("case", UNREACHABLE)
def test_a_name_that_does_not_resolve_yet_is_named_in_a_json_error(demo: Demo, case: str) -> None:
    nginx = demo.start_nginx()  # no name resolves: nginx starts all the same
    method, path, name, _ = PATHS[case]
    status, error, _ = UNREACHABLE[case]
    answer = requests.request(method, nginx.url + path, timeout=30)
    assert (answer.status_code, answer.headers["Content-Type"]) == (status, "application/json")
    assert answer.json() == error
    assert demo.dns.asked(name) >= 1
    # The frontend's own health is nginx's, whatever the services' names do.
    assert requests.get(nginx.url + "/healthz", timeout=10).json() == {
        "status": "ok",
        "service": "frontend",
    }


@pytest.mark.parametrize("case", UNREACHABLE)
def test_a_name_that_resolves_where_nothing_listens_is_told_apart(demo: Demo, case: str) -> None:
    demo.answer_all(OLD_ADDRESS)
    demo.old.close()
    nginx = demo.start_nginx()
    method, path, _, _ = PATHS[case]
    status, _, error = UNREACHABLE[case]
    answer = requests.request(method, nginx.url + path, timeout=30)
    assert (answer.status_code, answer.json()) == (status, error)


def test_a_name_that_starts_resolving_is_reached_without_restarting_nginx(demo: Demo) -> None:
    nginx = demo.start_nginx()
    users = nginx.url + PATHS["users"][1]
    assert requests.get(users, timeout=30).json() == _no_name("users service", "users")
    demo.dns.answer("users", NEW_ADDRESS)
    _until(lambda: requests.get(users, timeout=30), _answered_by(NEW_ADDRESS))
    assert nginx.process is not None and nginx.process.poll() is None


def test_the_page_says_which_service_it_cannot_reach_then_loads_once_it_can(
    demo: Demo, browser: Browser
) -> None:
    for name in ("users", "payment", "otel-collector", "jaeger"):
        demo.dns.answer(name, OLD_ADDRESS)
    nginx = demo.start_nginx()  # the order service's name does not resolve yet
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.goto(nginx.url + "/")
        result = page.locator("#order-result")
        expect(result.locator(".status")).to_contain_text("502 · Load products")
        expect(result.locator(".message")).to_have_text(
            _no_name("order service", "order")["message"]
        )

        demo.dns.answer("order", NEW_ADDRESS)
        _until(lambda: requests.get(nginx.url + "/products", timeout=30), lambda a: a.ok)
        page.reload()
        expect(page.locator("#product-select option")).to_have_text(["Coffee mug — $12.00"])
        expect(page.locator("#order-result")).to_be_empty()
    finally:
        context.close()


# resolv.conf as each platform writes it, and the resolver the image's entrypoint gives nginx.
RESOLV_CONFS = {
    "docker": ("nameserver 127.0.0.11\noptions ndots:0\n", "127.0.0.11"),
    # podman: its aardvark first, then the host's own nameservers.
    "podman": ("search dns.podman\nnameserver 10.89.0.1\nnameserver 10.255.255.53\n", "10.89.0.1"),
    "kubernetes": (
        "search tracing-demo.svc.cluster.local svc.cluster.local cluster.local\n"
        "nameserver 10.96.0.10\noptions ndots:5\n",
        "10.96.0.10",
    ),
    "ipv6": ("nameserver fd00::53\nnameserver 10.0.0.53\n", "[fd00::53]"),
}


@pytest.mark.parametrize(("resolv_conf", "resolver"), RESOLV_CONFS.values(), ids=RESOLV_CONFS)
def test_the_image_gives_nginx_the_platforms_dns_alone(
    tmp_path: Path, resolv_conf: str, resolver: str
) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text(resolv_conf)
    assert local_resolvers(conf) == resolver


def test_a_host_nameserver_listed_after_the_platforms_dns_is_never_asked(
    demo: Demo, tmp_path: Path
) -> None:
    """As podman writes resolv.conf: the host's nameserver after its own DNS. The host's knows
    no service; nginx, given both, would ask them in turn and take its "not found"."""
    host_dns = NameServer("127.0.0.3", demo.dns.port)
    try:
        conf = tmp_path / "resolv.conf"
        conf.write_text("search dns.podman\nnameserver 127.0.0.1\nnameserver 127.0.0.3\n")
        demo.answer_all(OLD_ADDRESS)
        nginx = demo.start_nginx(f"{local_resolvers(conf)}:{demo.dns.port}")
        for method, path, name, _ in PATHS.values():
            answer = requests.request(method, nginx.url + path, timeout=30)
            assert _answered_by(OLD_ADDRESS)(answer), (path, answer.text)
            assert demo.dns.asked(name) >= 1
        assert host_dns.asked() == 0
    finally:
        host_dns.close()
