"""A smoke check of a running demo, from outside, through the page's origin only.

    python -m tests.smoke --base-url http://localhost:8080 [--jaeger-url http://localhost:16686]

It walks the stack as a person would: the page and the files it loads, a new user, a transfer
and an order (each with an ``Idempotency-Key``), the balance, the catalog, and the user's
credits and orders. With ``--jaeger-url`` it also waits, for a bounded time, until the
transfer's and the order's traces are in Jaeger's query API with the spans of the services
each one crossed: payment and users for the transfer, order and users for the order, so the
three services between them. It prints one line per check and a summary, and exits 0 only
when every check passed.

It needs nothing but ``requests``, so it runs against any deployment: ``make run``, compose,
a cluster behind a port-forward.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import requests

# (connect, read): a loaded machine may take seconds to answer a write.
TIMEOUT = (5, 30)
# The files the page loads: its stylesheets and scripts, by relative URL.
PAGE_FILE = re.compile(r'<(?:link|script)\b[^>]*?\b(?:href|src)="(?![a-z]+:|//|#)([^"]+)"')
TRACERESPONSE = re.compile(r"00-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")
TRANSFER_CENTS = 10_000
# The OTEL_SERVICE_NAME of each service, as compose and the Kubernetes manifests set them.
TRANSFER_SERVICES = frozenset({"payment-service", "user-service"})
ORDER_SERVICES = frozenset({"order-service", "user-service"})


class CheckFailed(Exception):
    """A check's reason for failing, printed on its line."""


@dataclass
class Walk:
    """One walk through a running demo: the checks' results, and what earlier checks found."""

    base_url: str
    jaeger_url: str | None
    trace_wait: float
    session: requests.Session = field(default_factory=requests.Session)
    results: list[bool] = field(default_factory=list)
    found: dict[str, Any] = field(default_factory=dict)

    def check(self, name: str, step: Callable[[], str]) -> bool:
        """Run one check and print its line: PASS with what it saw, or FAIL with why."""
        try:
            detail, passed = step(), True
        except CheckFailed as failure:
            detail, passed = str(failure), False
        except requests.RequestException as exc:
            detail, passed = f"no answer: {type(exc).__name__}: {exc}", False
        print(f"{'PASS' if passed else 'FAIL'}  {name}: {detail}", flush=True)
        self.results.append(passed)
        return passed

    def skip(self, name: str, why: str) -> None:
        print(f"SKIP  {name}: {why}", flush=True)
        self.results.append(False)

    def call(
        self,
        method: str,
        path: str,
        expected: int,
        body: object = None,
        key: str | None = None,
    ) -> requests.Response:
        """One request through the page's origin; anything but ``expected`` fails the check."""
        headers = {"Idempotency-Key": f'"{key}"'} if key else {}
        reply = self.session.request(
            method, self.base_url + path, json=body, headers=headers, timeout=TIMEOUT
        )
        if reply.status_code != expected:
            raise CheckFailed(
                f"{method} {path} answered {reply.status_code}, not {expected}: "
                f"{reply.text[:300].strip()}"
            )
        return reply

    def json_of(self, reply: requests.Response) -> Any:
        try:
            return reply.json()
        except ValueError:
            raise CheckFailed(f"{reply.url} answered no JSON: {reply.text[:200]!r}") from None


def trace_id_of(reply: requests.Response) -> str:
    """The trace id of the W3C ``traceresponse`` header (``00-<trace>-<span>-<flags>``)."""
    header = reply.headers.get("traceresponse", "")
    match = TRACERESPONSE.fullmatch(header)
    if not match:
        raise CheckFailed(f"no W3C traceresponse header (got {header!r})")
    return match[1]


def page(walk: Walk) -> str:
    reply = walk.call("GET", "/", 200)
    if "text/html" not in reply.headers.get("Content-Type", ""):
        raise CheckFailed(f"/ is {reply.headers.get('Content-Type')!r}, not HTML")
    files = PAGE_FILE.findall(reply.text)
    if "config.js" not in files:
        raise CheckFailed(f"the page loads no config.js (it loads {files})")
    walk.found["files"] = files
    return f"{len(reply.content)} bytes, loads {', '.join(files)}"


def page_file(walk: Walk, name: str) -> str:
    reply = walk.call("GET", "/" + name.lstrip("/"), 200)
    kind = reply.headers.get("Content-Type", "")
    wanted = "css" if name.endswith(".css") else "javascript"
    if wanted not in kind or not reply.content.strip():
        raise CheckFailed(f"{len(reply.content)} bytes of {kind!r}, not {wanted}")
    return f"{len(reply.content)} bytes of {kind}"


def create_user(walk: Walk) -> str:
    account = f"SMOKE-{uuid.uuid4().hex[:12]}"
    reply = walk.call("POST", "/users", 201, {"user_name": "Smoke check", "account": account})
    user = walk.json_of(reply)
    if user.get("account") != account or user.get("amount") != 0:
        raise CheckFailed(f"unexpected user {user}")
    walk.found["user"] = user["id"]
    return f"user {user['id']} ({account}), trace {trace_id_of(reply)}"


def transfer(walk: Walk) -> str:
    user = walk.found["user"]
    reply = walk.call(
        "PUT",
        f"/payments/transfer/id/{user}",
        200,
        {"amount": TRANSFER_CENTS},
        key=str(uuid.uuid4()),
    )
    done = walk.json_of(reply)
    if done.get("balance") != TRANSFER_CENTS:
        raise CheckFailed(f"the balance after the transfer is {done.get('balance')}")
    walk.found["transfer_trace"] = trace_id_of(reply)
    return f"{TRANSFER_CENTS} cents, trace {walk.found['transfer_trace']}"


def balance(walk: Walk) -> str:
    user = walk.json_of(walk.call("GET", f"/users/{walk.found['user']}", 200))
    if user.get("amount") != TRANSFER_CENTS:
        raise CheckFailed(f"the balance is {user.get('amount')}, not {TRANSFER_CENTS}")
    return f"{user['amount']} cents"


def products(walk: Walk) -> str:
    catalog = walk.json_of(walk.call("GET", "/products", 200))
    affordable = [p for p in catalog if p.get("price", TRANSFER_CENTS + 1) <= TRANSFER_CENTS]
    if not affordable:
        raise CheckFailed(f"no product costs at most {TRANSFER_CENTS} cents: {catalog}")
    walk.found["product"] = min(affordable, key=lambda product: product["price"])
    return f"{len(catalog)} products"


def order(walk: Walk) -> str:
    user, product = walk.found["user"], walk.found["product"]
    reply = walk.call(
        "POST",
        "/orders",
        201,
        {"user_id": user, "product_id": product["id"]},
        key=str(uuid.uuid4()),
    )
    placed = walk.json_of(reply)
    if placed.get("price") != product["price"] or placed.get("status") != "PAID":
        raise CheckFailed(f"unexpected order {placed}")
    walk.found["order"] = placed["id"]
    walk.found["order_trace"] = trace_id_of(reply)
    left = walk.json_of(walk.call("GET", f"/users/{user}", 200)).get("amount")
    if left != TRANSFER_CENTS - product["price"]:
        raise CheckFailed(f"the balance after paying {product['price']} cents is {left}")
    return (
        f"order {placed['id']} ({product['name']}, {product['price']} cents), "
        f"balance {left}, trace {walk.found['order_trace']}"
    )


def credits(walk: Walk) -> str:
    listing = walk.json_of(walk.call("GET", f"/users/{walk.found['user']}/credits", 200))
    applied = [c for c in listing.get("credits", []) if c.get("source") == "credit"]
    if [c.get("amount") for c in applied] != [TRANSFER_CENTS]:
        raise CheckFailed(f"expected the one credit of the transfer, got {listing}")
    return f"the transfer's credit {applied[0]['id']}"


def orders(walk: Walk) -> str:
    listing = walk.json_of(walk.call("GET", f"/orders?user_id={walk.found['user']}", 200))
    listed = [o.get("id") for o in listing.get("orders", [])]
    if listed != [walk.found["order"]]:
        raise CheckFailed(f"expected order {walk.found['order']} alone, got {listed}")
    return f"order {listed[0]}"


def trace_in_jaeger(walk: Walk, trace_id: str, services: frozenset[str]) -> str:
    """Poll Jaeger's query API until the trace holds spans of every one of ``services``."""
    assert walk.jaeger_url is not None
    url = f"{walk.jaeger_url}/api/traces/{trace_id}"
    deadline = time.monotonic() + walk.trace_wait
    seen = f"nothing yet from {url}"
    while True:
        try:
            reply = walk.session.get(url, timeout=TIMEOUT)
            if reply.status_code == 200:
                (trace,) = reply.json()["data"]
                names = {p["serviceName"] for p in trace["processes"].values()}
                by_span = [
                    trace["processes"][s["processID"]]["serviceName"] for s in trace["spans"]
                ]
                if services <= names:
                    counts = ", ".join(f"{n} {by_span.count(n)}" for n in sorted(services))
                    return f"{len(by_span)} spans ({counts} ...)"
                seen = f"spans of {sorted(names)} only"
            else:
                seen = f"{reply.status_code} {reply.text[:200].strip()}"
        except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
            seen = f"{type(exc).__name__}: {exc}"
        if time.monotonic() > deadline:
            raise CheckFailed(
                f"trace {trace_id} with spans of {sorted(services)} not in Jaeger "
                f"after {walk.trace_wait:g} s; last: {seen}"
            )
        time.sleep(1)


def walk_the_demo(walk: Walk) -> None:
    """Every check in order; a flow that depends on a failed one is skipped, and says so."""
    if walk.check("page /", lambda: page(walk)):
        for name in walk.found["files"]:
            walk.check(f"page file {name}", partial(page_file, walk, name))
    flows: list[tuple[str, Callable[[Walk], str]]] = [
        ("create user POST /users", create_user),
        ("transfer PUT /payments/transfer/id/<id> with an Idempotency-Key", transfer),
        ("balance GET /users/<id>", balance),
        ("products GET /products", products),
        ("order POST /orders with an Idempotency-Key", order),
        ("credits GET /users/<id>/credits", credits),
        ("orders GET /orders?user_id=<id>", orders),
    ]
    if walk.jaeger_url:
        flows += [
            (
                "transfer's trace in Jaeger",
                lambda w: trace_in_jaeger(w, w.found["transfer_trace"], TRANSFER_SERVICES),
            ),
            (
                "order's trace in Jaeger",
                lambda w: trace_in_jaeger(w, w.found["order_trace"], ORDER_SERVICES),
            ),
        ]
    failed = ""
    for name, step in flows:
        if failed:
            walk.skip(name, f"not run: '{failed}' failed")
        elif not walk.check(name, partial(step, walk)):
            failed = name


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.smoke", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--base-url", required=True, help="the page's origin, e.g. :8080")
    parser.add_argument("--jaeger-url", help="Jaeger's query service, e.g. :16686")
    parser.add_argument(
        "--trace-wait",
        type=float,
        default=60.0,
        help="seconds to wait for each trace in Jaeger (default: 60)",
    )
    args = parser.parse_args(argv)
    walk = Walk(
        base_url=args.base_url.rstrip("/"),
        jaeger_url=args.jaeger_url.rstrip("/") if args.jaeger_url else None,
        trace_wait=args.trace_wait,
    )
    traces = f", traces from {walk.jaeger_url}" if walk.jaeger_url else ""
    print(f"smoke check of {walk.base_url}{traces}", flush=True)
    walk_the_demo(walk)
    passed = sum(walk.results)
    verdict = "all passed" if passed == len(walk.results) else "FAILED"
    print(f"smoke check {verdict}: {passed} of {len(walk.results)} checks passed")
    return 0 if passed == len(walk.results) else 1


if __name__ == "__main__":
    sys.exit(main())
