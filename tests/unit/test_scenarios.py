"""Scenarios: read from the request's baggage (else the default), acted on by the right service."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import pytest
from opentelemetry import baggage
from opentelemetry.context import Context, attach, detach
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from order.scenarios import run_order_scenarios
from shared.scenarios import BAGGAGE_KEY, Scenario, requested_scenario, scenario_in
from shared.settings import Settings
from tests.unit.conftest import MakeApp
from users.scenarios import DelayBeforeServing


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("slow-db", Scenario.SLOW_DB),
        (" payment-failure ", Scenario.PAYMENT_FAILURE),
        ("users-latency", Scenario.USERS_LATENCY),
        ("lock-contention", Scenario.LOCK_CONTENTION),
        ("SLOW-DB", None),
        ("slow_db", None),
        ("", None),
        (None, None),
        (3, None),
    ],
)
def test_baggage_values_name_a_scenario_or_nothing(
    value: object, expected: Scenario | None
) -> None:
    assert requested_scenario(baggage.set_baggage(BAGGAGE_KEY, value, Context())) is expected


def test_the_request_baggage_wins_over_the_default(make_app: MakeApp) -> None:
    app = make_app("users", DEFAULT_SCENARIO="slow-db")
    with_baggage = baggage.set_baggage(BAGGAGE_KEY, "users-latency", Context())
    with app.app_context():
        assert scenario_in(with_baggage) is Scenario.USERS_LATENCY
        assert scenario_in(Context()) is Scenario.SLOW_DB
        assert scenario_in(baggage.set_baggage(BAGGAGE_KEY, "bogus", Context())) is Scenario.SLOW_DB
    assert scenario_in(Context()) is None  # outside a request: no default to apply


def test_payment_failure_rejects_credits_with_503_and_writes_nothing(make_app: MakeApp) -> None:
    client = make_app("users", PAYMENT_FAILURE_RATE="1").test_client()
    user = client.post("/users", json={"user_name": "Ann", "account": "a"}).json
    assert user is not None
    # The baggage as the instrumentation leaves it once it has read the request's header.
    token = attach(baggage.set_baggage(BAGGAGE_KEY, "payment-failure"))
    try:
        reply = client.put(f"/users/{user['id']}", json={"amount": 100})
    finally:
        detach(token)
    assert reply.status_code == 503
    assert reply.json is not None and reply.json["error"] == "credit_rejected"
    assert client.get(f"/users/{user['id']}").json == user
    assert client.put(f"/users/{user['id']}", json={"amount": 100}).status_code == 200


@pytest.mark.parametrize(
    ("scenario", "statements"),
    [
        (None, []),
        ("slow-db", ["SELECT sleep(?) (0.03,)"]),
        (
            "lock-contention",
            ["SELECT users.id FROM users WHERE users.id = ? (1,)", "SELECT sleep(?) (0.02,)"],
        ),
    ],
)
def test_the_order_scenarios_run_their_statements_in_the_transaction(
    make_app: MakeApp, database: Engine, scenario: str | None, statements: list[str]
) -> None:
    app = make_app("order", SCENARIO_SLOW_DB_MS="30", SCENARIO_LOCK_HOLD_MS="20")
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append(f"{' '.join(statement.split())} {parameters}")

    event.listen(database, "before_cursor_execute", record)
    token = attach(baggage.set_baggage(BAGGAGE_KEY, scenario) if scenario else Context())
    try:
        with app.app_context(), Session(database) as session, session.begin():
            run_order_scenarios(session, 1)
    finally:
        detach(token)
        event.remove(database, "before_cursor_execute", record)
    assert [s for s in seen if not s.startswith("BEGIN")] == statements


class _Recorder:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        self.calls += 1
        return [b""]


@pytest.mark.parametrize(
    ("path", "header", "default", "waits"),
    [
        ("/users/1", "demo.scenario=users-latency", None, True),
        ("/users/1", "demo.scenario=slow-db", None, False),
        ("/users/1", None, None, False),
        ("/users/1", None, "users-latency", True),
        ("/healthz", "demo.scenario=users-latency", None, False),
    ],
)
def test_users_latency_waits_before_serving_only_when_asked(
    monkeypatch: pytest.MonkeyPatch, path: str, header: str | None, default: str | None, waits: bool
) -> None:
    waited: list[float] = []
    monkeypatch.setattr(time, "sleep", waited.append)
    env = {"SCENARIO_USERS_LATENCY_MS": "250", **({"DEFAULT_SCENARIO": default} if default else {})}
    app = _Recorder()
    middleware = DelayBeforeServing(app, Settings.from_env(env), paths=("/users",))
    environ = {"PATH_INFO": path, **({"HTTP_BAGGAGE": header} if header else {})}
    middleware(environ, lambda *args: None)
    assert app.calls == 1
    assert waited == ([0.25] if waits else [])
