"""The users service down, hung or talking nonsense: payment and order answer 5xx JSON quickly."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from sqlalchemy import Engine

from devkit.database import snapshot
from devkit.otlp_receiver import CLIENT, SERVER, OtlpReceiver, trace_id_of
from tests.fake_peers import BlackHole, HtmlServer
from tests.helpers import TIMEOUT, balance_of, create_user, orders_of
from tests.stack import ServiceProcess, Stack, base_env

QUICK = 5.0  # seconds: "quickly", with room for a loaded CI machine


@pytest.fixture
def private_stack(database_url: str, receiver: OtlpReceiver, tmp_path: Path) -> Iterator[Stack]:
    """A stack of its own, so a test may stop its users service."""
    env = base_env(DATABASE_URL=database_url, OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint)
    running = Stack.start(tmp_path, env)
    yield running
    running.stop()


def _callers(
    database_url: str, receiver: OtlpReceiver, log_dir: Path, user_url: str, **extra: str
) -> tuple[ServiceProcess, ServiceProcess]:
    env = base_env(
        DATABASE_URL=database_url,
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        USER_URL=user_url,
        **extra,
    )
    payment = ServiceProcess("payment", env, log_dir / "payment.log").start()
    order = ServiceProcess("order", env, log_dir / "order.log").start()
    return payment.wait_ready(), order.wait_ready()


def test_users_stopped_gives_503_quickly_with_error_spans_and_no_writes(
    private_stack: Stack, http: requests.Session, receiver: OtlpReceiver, db: Engine
) -> None:
    user = create_user(http, private_stack, balance=50_000)
    private_stack.users.stop()
    before = snapshot(db)

    for service in (private_stack.payment, private_stack.order):
        ready = http.get(service.url + "/readyz", timeout=TIMEOUT)
        assert ready.status_code == 503
        assert ready.json()["checks"]["users-service"] != "ok"

    started = time.monotonic()
    transfer = http.put(
        f"{private_stack.payment.url}/payments/transfer/id/{user['id']}",
        json={"amount": 100},
        timeout=TIMEOUT,
    )
    order = http.post(
        private_stack.order.url + "/orders",
        json={"user_id": user["id"], "product_id": 1},
        timeout=TIMEOUT,
    )
    elapsed = time.monotonic() - started

    for reply in (transfer, order):
        assert reply.status_code == 503, reply.text
        assert reply.json()["error"] == "upstream_unavailable"
    assert elapsed < 2 * QUICK
    assert snapshot(db) == before
    assert balance_of(db, user["id"]) == 50_000 and orders_of(db, user["id"]) == []

    spans = receiver.wait_for_trace(
        trace_id_of(transfer),
        lambda found: any(s.kind == SERVER for s in found) and any(s.kind == CLIENT for s in found),
    )
    server = next(s for s in spans if s.kind == SERVER)
    client = next(s for s in spans if s.kind == CLIENT)
    transfer_span = next(s for s in spans if s.name == "transfer funds")
    assert server.is_error and client.is_error and transfer_span.is_error
    assert "exception" in transfer_span.events
    order_spans = receiver.wait_for_trace(
        trace_id_of(order), lambda found: any(s.kind == SERVER for s in found)
    )
    assert next(s for s in order_spans if s.kind == SERVER).is_error


@pytest.mark.parametrize(
    ("peer", "status", "code"),
    [(BlackHole, 504, "upstream_timeout"), (HtmlServer, 502, "bad_upstream_response")],
    ids=["hung: 504 after the read timeout", "answering nonsense: 502"],
)
def test_a_users_service_that_hangs_or_talks_nonsense_is_a_gateway_error(
    peer: type[BlackHole | HtmlServer],
    status: int,
    code: str,
    database_url: str,
    receiver: OtlpReceiver,
    tmp_path: Path,
    http: requests.Session,
) -> None:
    users = peer()
    payment, order = _callers(
        database_url, receiver, tmp_path, f"127.0.0.1:{users.port}", HTTP_READ_TIMEOUT="1"
    )
    try:
        started = time.monotonic()
        transfer = http.put(
            payment.url + "/payments/transfer/id/1", json={"amount": 100}, timeout=TIMEOUT
        )
        assert time.monotonic() - started < QUICK
        assert (transfer.status_code, transfer.json()["error"]) == (status, code)
        placed = http.post(
            order.url + "/orders", json={"user_id": 1, "product_id": 1}, timeout=TIMEOUT
        )
        assert placed.status_code == status
    finally:
        payment.stop()
        order.stop()
        users.close()
