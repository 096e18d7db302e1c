"""Scenario switches carried by W3C baggage: each leaves its documented signature in the trace,
and none corrupts data."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from sqlalchemy import Engine

from devkit.otlp_receiver import CLIENT, SERVER, OtlpReceiver, ReceivedSpan, trace_id_of
from tests.helpers import TIMEOUT, balance_of, create_user, orders_of
from tests.stack import ServiceProcess, Stack, base_env

# Every test here moves money: afterwards, the ledger explains every balance.
pytestmark = pytest.mark.usefixtures("balances_match_the_ledger")

# The services' defaults (shared/scenarios.py); lower bounds allow for nothing but rounding.
SLOW_DB_S = 0.4
USERS_LATENCY_S = 0.4
LOCK_HOLD_S = 0.25

Spans = list[ReceivedSpan]


def baggage(scenario: str) -> dict[str, str]:
    return {"baggage": f"demo.scenario={scenario}"}


def seconds(span: ReceivedSpan) -> float:
    return (span.end_ns - span.start_ns) / 1e9


def named(spans: Spans, service: str, name: str) -> ReceivedSpan:
    (span,) = [s for s in spans if s.service == service and s.name == name]
    return span


def order(
    http: requests.Session, stack: Stack, user_id: int, scenario: str | None
) -> requests.Response:
    return http.post(
        stack.order.url + "/orders",
        json={"user_id": user_id, "product_id": 1},
        headers=baggage(scenario) if scenario else {},
        timeout=TIMEOUT,
    )


def whole_order_trace(receiver: OtlpReceiver, trace_id: str) -> Spans:
    return receiver.wait_for_trace(
        trace_id,
        lambda found: (
            {"POST /orders", "insert order", "get user"} <= {s.name for s in found}
            and any(
                s.kind == CLIENT and s.service == "order-service" and "url.full" in s.attributes
                for s in found
            )
        ),
    )


@pytest.mark.both_databases
def test_slow_db_is_a_long_sql_span_inside_insert_order(
    stack: Stack, http: requests.Session, receiver: OtlpReceiver, db: Engine
) -> None:
    user = create_user(http, stack, balance=5_000)
    reply = order(http, stack, user["id"], "slow-db")
    assert reply.status_code == 201
    spans = whole_order_trace(receiver, trace_id_of(reply))

    insert = named(spans, "order-service", "insert order")
    slow = [
        s
        for s in spans
        if s.parent_span_id == insert.span_id
        and "sleep" in s.attributes.get("db.statement", "").lower()
    ]
    assert len(slow) == 1 and seconds(slow[0]) >= SLOW_DB_S * 0.9
    assert seconds(insert) >= seconds(slow[0])
    # The scenario rode the baggage to every hop and labels every span.
    assert {s.attributes.get("app.scenario") for s in spans} == {"slow-db"}
    assert {s.service for s in spans} == {"order-service", "user-service"}
    assert balance_of(db, user["id"]) == 5_000 - 1200
    assert len(orders_of(db, user["id"])) == 1

    normal = whole_order_trace(receiver, trace_id_of(order(http, stack, user["id"], None)))
    assert not any("sleep" in s.attributes.get("db.statement", "").lower() for s in normal)
    assert not any("app.scenario" in s.attributes for s in normal)


@pytest.mark.both_databases
def test_payment_failure_starts_in_the_users_service_and_writes_nothing(
    stack: Stack, http: requests.Session, receiver: OtlpReceiver, db: Engine
) -> None:
    user = create_user(http, stack)
    replies = [
        http.put(
            f"{stack.payment.url}/payments/transfer/id/{user['id']}",
            json={"amount": 100},
            headers=baggage("payment-failure"),
            timeout=TIMEOUT,
        )
        for _ in range(30)
    ]
    statuses = [reply.status_code for reply in replies]
    assert set(statuses) == {200, 503}, statuses  # a share fails (rate 0.5; all-same odds 2e-9)
    assert balance_of(db, user["id"]) == 100 * statuses.count(200)

    failed = next(reply for reply in replies if reply.status_code == 503)
    assert failed.json()["error"] == "credit_rejected"
    assert "payment-failure" in failed.json()["message"]
    spans = receiver.wait_for_trace(
        trace_id_of(failed),
        lambda found: (
            {"update user amount", "transfer funds", "PUT /payments/transfer/id/<id:user_id>"}
            <= {s.name for s in found}
        ),
    )
    origin = named(spans, "user-service", "update user amount")
    assert origin.is_error and "exception" in origin.events
    assert origin.attributes["app.scenario"] == "payment-failure"
    below = [s.name.split()[0] for s in spans if s.parent_span_id == origin.span_id]
    # At most the look for a credit recorded with this key (the payment service sends one):
    # no statement that writes.
    assert not {"UPDATE", "INSERT"} & set(below), below
    users_server = named(spans, "user-service", "PUT /users/<id:user_id>")
    assert users_server.is_error and users_server.attributes["http.response.status_code"] == 503
    assert named(spans, "payment-service", "transfer funds").is_error
    assert named(spans, "payment-service", "PUT /payments/transfer/id/<id:user_id>").is_error


def test_users_latency_is_a_long_client_span_around_a_short_server_span(
    stack: Stack, http: requests.Session, receiver: OtlpReceiver, db: Engine
) -> None:
    user = create_user(http, stack, balance=5_000)
    reply = order(http, stack, user["id"], "users-latency")
    assert reply.status_code == 201
    spans = whole_order_trace(receiver, trace_id_of(reply))
    server = named(spans, "user-service", "GET /users/<id:user_id>")
    (client,) = [s for s in spans if s.span_id == server.parent_span_id]
    assert client.kind == CLIENT and client.service == "order-service"
    assert seconds(client) >= USERS_LATENCY_S * 0.9
    # The wait is outside the users service's server span: the gap is the lesson.
    assert seconds(client) - seconds(server) >= USERS_LATENCY_S * 0.9
    assert server.attributes["app.scenario"] == "users-latency"
    assert balance_of(db, user["id"]) == 5_000 - 1200


@pytest.mark.both_databases
def test_lock_contention_queues_concurrent_orders_on_the_row_lock(
    stack: Stack, http: requests.Session, receiver: OtlpReceiver, db: Engine
) -> None:
    concurrent = 4
    user = create_user(http, stack, balance=1200 * concurrent)

    def place(_: int) -> requests.Response:
        with requests.Session() as session:
            return order(session, stack, user["id"], "lock-contention")

    with ThreadPoolExecutor(max_workers=concurrent) as pool:
        replies = list(pool.map(place, range(concurrent)))
    assert [r.status_code for r in replies] == [201] * concurrent
    assert balance_of(db, user["id"]) == 0
    assert len(orders_of(db, user["id"])) == concurrent

    traces = [whole_order_trace(receiver, trace_id_of(reply)) for reply in replies]
    locks = [named(spans, "order-service", "lock user row") for spans in traces]
    assert all(lock.attributes["app.scenario"] == "lock-contention" for lock in locks)
    # Waiting for the lock: MySQL waits in SELECT ... FOR UPDATE, SQLite in BEGIN IMMEDIATE.
    waits = [
        seconds(s)
        for spans in traces
        for s in spans
        if s.service == "order-service"
        and (
            "FOR UPDATE" in s.attributes.get("db.statement", "")
            or s.attributes.get("db.statement", "").startswith("BEGIN")
        )
    ]
    assert max(waits) >= LOCK_HOLD_S * 0.8, waits
    inserts = sorted(seconds(named(spans, "order-service", "insert order")) for spans in traces)
    assert inserts[-1] >= LOCK_HOLD_S * 2, inserts  # the last in the queue waited for others


@pytest.mark.parametrize(
    "header",
    [
        "demo.scenario=explode",
        "demo.scenario=",
        "demo.scenario=slow-db%ZZ",
        "===;;;,,,",
        "demo.scenario=" + "x" * 5000,
        "other.key=slow-db",
    ],
)
def test_unknown_or_malformed_baggage_is_ignored(
    stack: Stack, http: requests.Session, receiver: OtlpReceiver, db: Engine, header: str
) -> None:
    user = create_user(http, stack, balance=5_000)
    reply = http.post(
        stack.order.url + "/orders",
        json={"user_id": user["id"], "product_id": 1},
        headers={"baggage": header},
        timeout=TIMEOUT,
    )
    assert reply.status_code == 201
    spans = whole_order_trace(receiver, trace_id_of(reply))
    assert not any("app.scenario" in s.attributes for s in spans)
    assert not any("sleep" in s.attributes.get("db.statement", "").lower() for s in spans)
    assert balance_of(db, user["id"]) == 5_000 - 1200


def test_server_spans_of_every_hop_carry_the_scenario(
    stack: Stack, http: requests.Session, receiver: OtlpReceiver
) -> None:
    user = create_user(http, stack, balance=5_000)
    reply = order(http, stack, user["id"], "slow-db")
    spans = whole_order_trace(receiver, trace_id_of(reply))
    servers = [s for s in spans if s.kind == SERVER]
    assert {s.service for s in servers} == {"order-service", "user-service"}
    assert all(s.attributes["app.scenario"] == "slow-db" for s in servers)


def test_default_scenario_from_configuration_applies_without_baggage(
    database_url: str, receiver: OtlpReceiver, tmp_path: Path
) -> None:
    env = base_env(
        DATABASE_URL=database_url,
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        DEFAULT_SCENARIO="payment-failure",
        PAYMENT_FAILURE_RATE="1",
    )
    users = ServiceProcess("users", env, tmp_path / "users.log").start().wait_ready()
    try:
        created = requests.post(
            users.url + "/users", json={"user_name": "D", "account": "d"}, timeout=TIMEOUT
        )
        credit = requests.put(
            f"{users.url}/users/{created.json()['id']}", json={"amount": 5}, timeout=TIMEOUT
        )
        assert credit.status_code == 503 and credit.json()["error"] == "credit_rejected"
        assert (
            requests.get(f"{users.url}/users/{created.json()['id']}", timeout=TIMEOUT).json()[
                "amount"
            ]
            == 0
        )
        spans = receiver.wait_for_trace(
            trace_id_of(credit), lambda found: any(s.name == "update user amount" for s in found)
        )
        assert {s.attributes.get("app.scenario") for s in spans} == {"payment-failure"}
    finally:
        users.stop()
