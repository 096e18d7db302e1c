"""Trace shape: one request is one trace across services, down to the SQL, exported over OTLP."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from devkit.otlp_receiver import (
    CLIENT,
    INTERNAL,
    SERVER,
    STATUS_UNSET,
    OtlpReceiver,
    ReceivedSpan,
    trace_id_of,
)
from tests.helpers import TIMEOUT, create_user
from tests.stack import Stack

Spans = list[ReceivedSpan]


def has(service: str, name: str, kind: int | None = None) -> Callable[[Spans], bool]:
    return lambda spans: any(
        s.service == service and s.name == name and (kind is None or s.kind == kind) for s in spans
    )


def all_of(*checks: Callable[[Spans], bool]) -> Callable[[Spans], bool]:
    return lambda spans: all(check(spans) for check in checks)


def one(spans: Spans, service: str, name: str) -> ReceivedSpan:
    matches = [s for s in spans if s.service == service and s.name == name]
    assert len(matches) == 1, f"expected one {service}:{name} in {describe(spans)}"
    return matches[0]


def children(spans: Spans, parent: ReceivedSpan) -> Spans:
    return [s for s in spans if s.parent_span_id == parent.span_id]


def sql_spans(spans: Spans, parent: ReceivedSpan) -> Spans:
    return [s for s in children(spans, parent) if "db.statement" in s.attributes]


def describe(spans: Spans) -> str:
    return "; ".join(f"{s.service}:{s.name}({s.span_id}<-{s.parent_span_id or '-'})" for s in spans)


@pytest.mark.both_databases
def test_one_order_is_one_trace_from_order_through_users_down_to_sql(
    stack: Stack, http: requests.Session, receiver: OtlpReceiver
) -> None:
    user = create_user(http, stack, balance=100_000)
    reply = http.post(
        stack.order.url + "/orders", json={"user_id": user["id"], "product_id": 2}, timeout=TIMEOUT
    )
    assert reply.status_code == 201
    trace_id = trace_id_of(reply)

    spans = receiver.wait_for_trace(
        trace_id,
        all_of(
            has("order-service", "POST /orders", SERVER),
            has("order-service", "insert order", INTERNAL),
            has("user-service", "GET /users/<id:user_id>", SERVER),
            has("user-service", "get user", INTERNAL),
        ),
    )
    root = one(spans, "order-service", "POST /orders")
    assert root.parent_span_id == "", "the order's server span is the root"
    assert reply.headers["traceresponse"].split("-")[2] == root.span_id

    # order-service -> (HTTP client span) -> user-service, parent to child across processes
    client = [
        s for s in children(spans, root) if s.kind == CLIENT and "db.system" not in s.attributes
    ]
    assert len(client) == 1, describe(spans)
    users_server = one(spans, "user-service", "GET /users/<id:user_id>")
    assert users_server.parent_span_id == client[0].span_id
    get_user = one(spans, "user-service", "get user")
    assert get_user.parent_span_id == users_server.span_id
    assert get_user.attributes["app.user.id"] == user["id"]
    assert any(
        s.attributes["db.statement"].startswith("SELECT") for s in sql_spans(spans, get_user)
    ), describe(spans)

    insert_order = one(spans, "order-service", "insert order")
    assert insert_order.parent_span_id == root.span_id
    assert insert_order.attributes["app.user.id"] == user["id"]
    assert insert_order.attributes["app.product.id"] == 2
    assert insert_order.attributes["app.order.id"] == reply.json()["id"]
    statements = [s.attributes["db.statement"] for s in sql_spans(spans, insert_order)]
    assert any(st.startswith("UPDATE users") for st in statements), statements
    assert any(st.startswith("INSERT INTO orders") for st in statements), statements
    assert all(s.status_code == STATUS_UNSET for s in spans), describe(spans)
    assert {s.service for s in spans} == {"order-service", "user-service"}


@pytest.mark.both_databases
def test_transfer_trace_goes_payment_to_users_to_sql(
    stack: Stack, http: requests.Session, receiver: OtlpReceiver
) -> None:
    user = create_user(http, stack)
    reply = http.put(
        f"{stack.payment.url}/payments/transfer/id/{user['id']}",
        json={"amount": 300},
        timeout=TIMEOUT,
    )
    assert reply.status_code == 200
    spans = receiver.wait_for_trace(
        trace_id_of(reply),
        all_of(
            has("payment-service", "PUT /payments/transfer/id/<id:user_id>", SERVER),
            has("user-service", "update user amount"),
        ),
    )
    root = one(spans, "payment-service", "PUT /payments/transfer/id/<id:user_id>")
    transfer = one(spans, "payment-service", "transfer funds")
    assert transfer.parent_span_id == root.span_id
    assert transfer.attributes["app.amount"] == 300
    (client,) = [s for s in children(spans, transfer) if s.kind == CLIENT]
    users_server = one(spans, "user-service", "PUT /users/<id:user_id>")
    assert users_server.parent_span_id == client.span_id
    update = one(spans, "user-service", "update user amount")
    assert update.parent_span_id == users_server.span_id
    assert update.attributes["app.user.balance"] == 300
    assert any(
        s.attributes["db.statement"].startswith("UPDATE users") for s in sql_spans(spans, update)
    )


def test_create_user_trace_has_business_span_and_sql_but_no_personal_data(
    stack: Stack, http: requests.Session, receiver: OtlpReceiver
) -> None:
    reply = http.post(
        stack.users.url + "/users",
        json={"user_name": "Grace Hopper", "account": "IBAN-SECRET-1"},
        timeout=TIMEOUT,
    )
    assert reply.status_code == 201
    spans = receiver.wait_for_trace(trace_id_of(reply), has("user-service", "create user"))
    create = one(spans, "user-service", "create user")
    assert create.attributes["app.user.id"] == reply.json()["id"]
    inserts = sql_spans(spans, create)
    assert any(s.attributes["db.statement"].startswith("INSERT INTO users") for s in inserts)
    assert all(s.attributes["db.system"] in {"sqlite", "mysql"} for s in inserts)
    everything = repr([(s.name, s.attributes) for s in spans])
    assert "Grace" not in everything and "IBAN-SECRET" not in everything


def test_client_mistakes_are_not_errors_on_server_spans(
    stack: Stack, http: requests.Session, receiver: OtlpReceiver
) -> None:
    user = create_user(http, stack, balance=1)
    refused = http.post(
        stack.order.url + "/orders", json={"user_id": user["id"], "product_id": 1}, timeout=TIMEOUT
    )
    assert refused.status_code == 422
    spans = receiver.wait_for_trace(
        trace_id_of(refused),
        all_of(has("order-service", "POST /orders"), has("order-service", "insert order")),
    )
    assert not any(s.is_error for s in spans), describe(spans)
    assert one(spans, "order-service", "insert order").attributes["app.rejected"] == (
        "insufficient_funds"
    )
    server = one(spans, "order-service", "POST /orders")
    assert server.attributes["http.response.status_code"] == 422

    missing = http.get(stack.users.url + "/users/987654321", timeout=TIMEOUT)
    assert missing.status_code == 404
    spans = receiver.wait_for_trace(trace_id_of(missing), has("user-service", "get user"))
    assert not any(s.is_error for s in spans)


def test_incoming_traceparent_is_continued(
    stack: Stack, http: requests.Session, receiver: OtlpReceiver
) -> None:
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    reply = http.get(
        stack.order.url + "/products",
        headers={"traceparent": f"00-{trace_id}-{parent_id}-01"},
        timeout=TIMEOUT,
    )
    assert trace_id_of(reply) == trace_id
    spans = receiver.wait_for_trace(trace_id, has("order-service", "GET /products"))
    assert one(spans, "order-service", "GET /products").parent_span_id == parent_id


def test_spans_arrive_from_every_gunicorn_worker(stack: Stack, receiver: OtlpReceiver) -> None:
    def fresh_connection_get(_: int) -> str:
        # A new connection per request, so the kernel spreads them over the workers.
        reply = requests.get(
            stack.users.url + "/users/1", headers={"Connection": "close"}, timeout=30
        )
        return trace_id_of(reply)

    with ThreadPoolExecutor(max_workers=8) as pool:
        trace_ids = set(pool.map(fresh_connection_get, range(64)))
    spans = receiver.wait_for(
        lambda found: {s.trace_id for s in found} >= trace_ids,
        lambda span: span.trace_id in trace_ids and span.kind == SERVER,
    )
    workers = {span.instance_id for span in spans}
    assert len(workers) >= 2 and None not in workers, f"spans from one worker only: {workers}"


def test_log_lines_carry_the_trace_id(stack: Stack, http: requests.Session) -> None:
    user = create_user(http, stack, balance=5000)
    reply = http.post(
        stack.order.url + "/orders", json={"user_id": user["id"], "product_id": 1}, timeout=TIMEOUT
    )
    trace_id = trace_id_of(reply)
    order_log = [line for line in stack.order.log().splitlines() if f"trace_id={trace_id}" in line]
    assert any(f"order {reply.json()['id']} placed" in line for line in order_log), order_log
    transfer = http.put(
        f"{stack.payment.url}/payments/transfer/id/{user['id']}", json={"amount": 7}, timeout=30
    )
    trace_id = trace_id_of(transfer)
    for service, message in ((stack.payment, "transferred 7"), (stack.users, "credited 7")):
        lines = [line for line in service.log().splitlines() if f"trace_id={trace_id}" in line]
        assert any(message in line for line in lines), lines


def test_a_cross_service_404_is_an_error_only_on_the_callers_client_span(
    stack: Stack, http: requests.Session, receiver: OtlpReceiver
) -> None:
    """Semantic conventions: 4xx is not an error on a server span, but it is on a client span."""
    reply = http.post(
        stack.order.url + "/orders", json={"user_id": 987654321, "product_id": 1}, timeout=TIMEOUT
    )
    assert reply.status_code == 404
    spans = receiver.wait_for_trace(
        trace_id_of(reply),
        all_of(
            has("order-service", "POST /orders", SERVER),
            has("user-service", "GET /users/<id:user_id>", SERVER),
        ),
    )
    errors = [s for s in spans if s.is_error]
    assert [(s.service, s.kind) for s in errors] == [("order-service", CLIENT)], describe(spans)
    assert one(spans, "user-service", "get user").attributes["app.rejected"] == "user_not_found"
