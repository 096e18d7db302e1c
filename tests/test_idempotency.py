"""Money under retries: one key, one effect, whatever the concurrency, lost answers or crashes.

Real gunicorn services on both databases. A stack of its own answers slowly on purpose
(``lost-response``), with a payment read timeout short enough for a test.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import Engine, func, select

from devkit.otlp_receiver import CLIENT, OtlpReceiver, ReceivedSpan, trace_id_of
from tests.helpers import TIMEOUT, balance_of, create_user, orders_of
from tests.stack import Stack, base_env
from users.models import CreditRecord

# Every test here moves money: afterwards, the ledger explains every balance.
# Idempotency on both databases: the key is kept in the same transaction as the effect.
pytestmark = [
    pytest.mark.both_databases,
    pytest.mark.usefixtures("balances_match_the_ledger"),
]

CONCURRENT = 50
REPLAYED = "Idempotent-Replayed"


def key() -> str:
    return f'"{uuid.uuid4()}"'


def credits_of(db: Engine, user_id: int) -> int:
    with db.connect() as connection:
        found = select(func.count()).where(CreditRecord.user_id == user_id)
        return int(connection.scalar(found) or 0)


def transfer(
    url: str, user_id: int, amount: int, idempotency_key: str, scenario: str | None = None
) -> requests.Response:
    """One transfer on a connection of its own."""
    headers = {"Idempotency-Key": idempotency_key}
    if scenario:
        headers["baggage"] = f"demo.scenario={scenario}"
    with requests.Session() as session:
        return session.put(
            f"{url}/payments/transfer/id/{user_id}",
            json={"amount": amount},
            headers=headers,
            timeout=60,
        )


def place(
    url: str, user_id: int, idempotency_key: str, scenario: str | None = None
) -> requests.Response:
    """One order of product 1 on a connection of its own."""
    headers = {"Idempotency-Key": idempotency_key}
    if scenario:
        headers["baggage"] = f"demo.scenario={scenario}"
    with requests.Session() as session:
        return session.post(
            f"{url}/orders",
            json={"user_id": user_id, "product_id": 1},
            headers=headers,
            timeout=60,
        )


def twin_orders(url: str, user_id: int, same: str, scenario: str) -> list[requests.Response]:
    """Two orders with one key at once, under ``scenario`` (lock-contention holds the row)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(lambda _: place(url, user_id, same, scenario), range(2)))


def outcomes(replies: list[requests.Response], applied: int) -> tuple[int, int, int]:
    """(applied, replayed, in progress): every answer is one of the three."""
    fresh = [r for r in replies if r.status_code == applied and REPLAYED not in r.headers]
    replayed = [r for r in replies if r.status_code == applied and r.headers.get(REPLAYED)]
    busy = [r for r in replies if r.status_code == 409]
    assert len(fresh) + len(replayed) + len(busy) == len(replies), [
        (r.status_code, r.text) for r in replies
    ]
    assert all(r.json()["error"] == "request_in_progress" for r in busy)
    assert all(r.json() == fresh[0].json() for r in replayed)
    return len(fresh), len(replayed), len(busy)


def test_concurrent_transfers_with_one_key_credit_once(
    stack: Stack, http: requests.Session, db: Engine
) -> None:
    user = create_user(http, stack)
    one_key = key()
    with ThreadPoolExecutor(max_workers=CONCURRENT) as pool:
        replies = list(
            pool.map(lambda _: transfer(stack.payment.url, user["id"], 100, one_key), range(50))
        )
    applied, _, _ = outcomes(replies, 200)
    assert applied == 1
    assert balance_of(db, user["id"]) == 100
    assert credits_of(db, user["id"]) == 1


def test_concurrent_transfers_with_distinct_keys_all_credit(
    stack: Stack, http: requests.Session, db: Engine
) -> None:
    user = create_user(http, stack)
    with ThreadPoolExecutor(max_workers=CONCURRENT) as pool:
        replies = list(
            pool.map(lambda _: transfer(stack.payment.url, user["id"], 100, key()), range(50))
        )
    assert outcomes(replies, 200) == (CONCURRENT, 0, 0)
    assert balance_of(db, user["id"]) == 100 * CONCURRENT
    assert credits_of(db, user["id"]) == CONCURRENT


def test_concurrent_orders_with_one_key_pay_once(
    stack: Stack, http: requests.Session, db: Engine
) -> None:
    price = http.get(stack.order.url + "/products", timeout=TIMEOUT).json()[0]["price"]
    user = create_user(http, stack, balance=price * 10)
    one_key = key()
    with ThreadPoolExecutor(max_workers=CONCURRENT) as pool:
        replies = list(pool.map(lambda _: place(stack.order.url, user["id"], one_key), range(50)))
    applied, _, _ = outcomes(replies, 201)
    assert applied == 1
    assert orders_of(db, user["id"]) == [(1, price, "PAID")]
    assert balance_of(db, user["id"]) == price * 9


def test_concurrent_orders_with_distinct_keys_all_pay(
    stack: Stack, http: requests.Session, db: Engine
) -> None:
    price = http.get(stack.order.url + "/products", timeout=TIMEOUT).json()[0]["price"]
    user = create_user(http, stack, balance=price * CONCURRENT)
    with ThreadPoolExecutor(max_workers=CONCURRENT) as pool:
        replies = list(pool.map(lambda _: place(stack.order.url, user["id"], key()), range(50)))
    assert outcomes(replies, 201) == (CONCURRENT, 0, 0)
    assert orders_of(db, user["id"]) == [(1, price, "PAID")] * CONCURRENT
    assert balance_of(db, user["id"]) == 0


def test_a_twin_that_finds_the_money_spent_by_the_first_is_answered_by_it(
    stack: Stack, http: requests.Session, db: Engine
) -> None:
    """The balance covers one order. The twin waits for the first's row lock (lock-contention
    holds it), then finds the balance too small: its answer is the first's order, not a 422."""
    price = http.get(stack.order.url + "/products", timeout=TIMEOUT).json()[0]["price"]
    user = create_user(http, stack, balance=price)
    same = key()

    replies = twin_orders(stack.order.url, user["id"], same, scenario="lock-contention")
    assert outcomes(replies, 201) == (1, 1, 0)
    assert orders_of(db, user["id"]) == [(1, price, "PAID")]
    assert balance_of(db, user["id"]) == 0


@pytest.mark.parametrize("other", ['"K-1"', '"k-1 "', '" k-1"', '"k-1\\\\"'])
def test_keys_are_compared_exactly(
    stack: Stack, http: requests.Session, db: Engine, other: str
) -> None:
    """No collation folds case or pads spaces: on MySQL the column is binary."""
    user = create_user(http, stack)
    first = transfer(stack.payment.url, user["id"], 100, '"k-1"')
    second = transfer(stack.payment.url, user["id"], 100, other)
    assert (first.status_code, second.status_code) == (200, 200), second.text
    assert REPLAYED not in second.headers
    assert balance_of(db, user["id"]) == 200


def test_a_transfer_retried_by_its_client_is_answered_from_the_record(
    stack: Stack, http: requests.Session, db: Engine
) -> None:
    user = create_user(http, stack)
    same = key()
    first = transfer(stack.payment.url, user["id"], 250, same)
    retried = transfer(stack.payment.url, user["id"], 250, same)
    assert (first.status_code, retried.status_code) == (200, 200)
    assert retried.json() == first.json() == {"user_id": user["id"], "amount": 250, "balance": 250}
    assert REPLAYED not in first.headers and retried.headers[REPLAYED] == "true"
    assert balance_of(db, user["id"]) == 250


# --- Lost answers: a stack whose payment service gives up on an answer after 3 s. ---

# Long enough for a users worker that gunicorn starts anew to boot within the attempts.
READ_TIMEOUT_S = 3


@pytest.fixture(scope="module")
def slow_stack(
    database_url: str, receiver: OtlpReceiver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """The three services; users answers a lost-response credit after payment's read timeout."""
    env = base_env(
        DATABASE_URL=database_url,
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        HTTP_READ_TIMEOUT=str(READ_TIMEOUT_S),
        # Past the read timeout; long enough to kill the worker while it waits.
        SCENARIO_LOST_RESPONSE_MS="4500",
        # A lock-contention order holds the user's row past the wait for a twin: a 409.
        SCENARIO_LOCK_HOLD_MS="3000",
        IDEMPOTENCY_WAIT_SECONDS="1",
    )
    running = Stack.start(tmp_path_factory.mktemp("slow-logs"), env)
    yield running
    running.stop()


def credit_attempts(receiver: OtlpReceiver, trace_id: str) -> list[ReceivedSpan]:
    """The payment service's client spans of the credit, in order.

    Its server span ends after them all, and a process exports spans in the order they end:
    once it is in, every attempt is.
    """
    spans = receiver.wait_for_trace(
        trace_id,
        lambda found: any(
            s.service == "payment-service" and s.name.startswith("PUT /payments") for s in found
        ),
    )
    return sorted(
        (s for s in spans if s.kind == CLIENT and s.service == "payment-service"),
        key=lambda s: s.start_ns,
    )


def test_a_lost_answer_is_retried_with_the_key_and_replayed(
    slow_stack: Stack, http: requests.Session, receiver: OtlpReceiver, db: Engine
) -> None:
    user = create_user(http, slow_stack)
    reply = transfer(slow_stack.payment.url, user["id"], 300, key(), scenario="lost-response")
    assert reply.status_code == 200, reply.text
    assert reply.json()["balance"] == 300
    assert REPLAYED not in reply.headers  # the person's first request: one success
    assert balance_of(db, user["id"]) == 300
    assert credits_of(db, user["id"]) == 1

    first, *retries = credit_attempts(receiver, trace_id_of(reply))
    assert retries, "at least two attempts"
    assert first.is_error and "http.request.resend_count" not in first.attributes
    last = retries[-1]
    assert last.attributes["http.request.resend_count"] == len(retries)
    assert last.attributes["app.idempotency.replayed"] is True
    assert last.attributes["http.response.status_code"] == 200


def test_a_users_worker_killed_between_commit_and_answer_is_replayed_on_retry(
    slow_stack: Stack, http: requests.Session, receiver: OtlpReceiver, db: Engine
) -> None:
    user = create_user(http, slow_stack)
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(
            transfer, slow_stack.payment.url, user["id"], 400, key(), "lost-response"
        )
        # The credit is committed (its ledger row is there); its worker is waiting to answer.
        deadline = time.monotonic() + 30
        while credits_of(db, user["id"]) == 0:
            assert time.monotonic() < deadline, "the credit never committed"
            time.sleep(0.05)
        # Its workers die (the master stays and starts new ones): the answer is never sent.
        for pid in slow_stack.users.worker_pids():
            os.kill(pid, signal.SIGKILL)
        reply = pending.result(timeout=60)

    assert reply.status_code == 200, reply.text
    assert reply.json()["balance"] == 400
    assert balance_of(db, user["id"]) == 400
    assert credits_of(db, user["id"]) == 1
    attempts = credit_attempts(receiver, trace_id_of(reply))
    assert len(attempts) >= 2
    assert attempts[-1].attributes["app.idempotency.replayed"] is True
    slow_stack.users.wait_ready("/readyz")


def test_with_no_client_key_the_payment_service_makes_one_for_its_retries(
    slow_stack: Stack, http: requests.Session, receiver: OtlpReceiver, db: Engine
) -> None:
    user = create_user(http, slow_stack)
    reply = http.put(
        f"{slow_stack.payment.url}/payments/transfer/id/{user['id']}",
        json={"amount": 500},
        headers={"baggage": "demo.scenario=lost-response"},
        timeout=TIMEOUT,
    )
    assert reply.status_code == 200, reply.text
    assert balance_of(db, user["id"]) == 500
    assert credit_attempts(receiver, trace_id_of(reply))[-1].attributes["app.idempotency.replayed"]


def test_a_twin_that_waits_past_the_bound_is_409_and_writes_nothing(
    slow_stack: Stack, http: requests.Session, db: Engine, database_url: str
) -> None:
    """The first order holds the user's row for 3 s; its twin waits 1 s at most on MySQL.

    SQLite has one writer at a time: there the twin queues for the write lock, then replays.
    """
    price = http.get(slow_stack.order.url + "/products", timeout=TIMEOUT).json()[0]["price"]
    user = create_user(http, slow_stack, balance=price * 5)
    same = key()

    replies = twin_orders(slow_stack.order.url, user["id"], same, scenario="lock-contention")
    applied, replayed, busy = outcomes(replies, 201)
    assert applied == 1
    assert (replayed, busy) == ((1, 0) if database_url.startswith("sqlite") else (0, 1))
    assert orders_of(db, user["id"]) == [(1, price, "PAID")]
    assert balance_of(db, user["id"]) == price * 4
