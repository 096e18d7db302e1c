"""Every status a route answers is in its OpenAPI document: proved by fault injection.

Each documented operation of each service is sent good input, bad input and an oversized body,
with everything up, with the database stopped, and (payment, order) with the users service
stopped and with it hanging. Whatever status comes back must be one its document lists; a 500
(which no document lists) fails the test too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from devkit.process import free_port
from tests.conftest import run_init_db
from tests.fake_peers import BlackHole
from tests.helpers import TIMEOUT, create_user
from tests.mariadb import ThrowawayMariaDB
from tests.stack import ServiceProcess, Stack, base_env

MAX_BODY_BYTES = 1024
Ids = dict[str, int]
# Well-formed bodies of each operation that takes one, from the stack's ids: accepted, or
# refused by the business rules (a user with no money).
GOOD_BODIES: dict[str, Callable[[Ids], list[dict[str, Any]]]] = {
    "users_create_user": lambda ids: [{"user_name": "Drift", "account": "d-1"}],
    "users_credit_user": lambda ids: [{"amount": 100}],
    "payment_transfer": lambda ids: [{"amount": 100}],
    "order_place_order": lambda ids: [
        {"user_id": ids["user_id"], "product_id": 1},
        {"user_id": ids["broke_user_id"], "product_id": 1},
    ],
}
# Bodies every operation with a request body refuses, and one too big for any.
BAD_BODIES = [b"{", b"[]", b'{"unknown": 1}', b'{"amount": -1, "user_id": 0}']
OVERSIZED = b'{"pad": "' + b"x" * (2 * MAX_BODY_BYTES) + b'"}'


@dataclass
class Seen:
    """The statuses one service answered, per documented operation."""

    service: str
    document: dict[str, Any]
    statuses: dict[tuple[str, str], set[int]]

    def undocumented(self) -> list[str]:
        problems = []
        for (method, path), statuses in sorted(self.statuses.items()):
            listed = {int(code) for code in self.document["paths"][path][method]["responses"]}
            for status in sorted(statuses - listed):
                problems.append(f"{self.service}: {method.upper()} {path} answered {status}")
        return problems


def exercise(base_url: str, service: str, ids: Ids) -> Seen:
    """Send every documented operation of the service at ``base_url`` its good, bad, unknown-id
    and oversized requests; the statuses it answered."""
    document = requests.get(base_url + "/openapi.json", timeout=TIMEOUT).json()
    seen = Seen(service, document, {})
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            statuses = seen.statuses.setdefault((method, path), set())
            urls = {_filled(base_url + path, ids), _filled(base_url + path, {}, unknown=True)}
            bodies: list[bytes | None] = [None, OVERSIZED]
            if "requestBody" in operation:
                good = GOOD_BODIES[operation["operationId"]](ids)  # KeyError: add the new route
                bodies += [*(json.dumps(body).encode() for body in good), *BAD_BODIES]
            for url in sorted(urls):
                for body in bodies:
                    reply = requests.request(
                        method,
                        url,
                        data=body,
                        headers={"Content-Type": "application/json"},
                        timeout=TIMEOUT,
                    )
                    statuses.add(reply.status_code)
                    if reply.status_code >= 400:
                        assert {"error", "message"} <= reply.json().keys(), reply.text
    return seen


def _filled(text: str, ids: Ids, *, unknown: bool = False) -> str:
    """``{user_id}`` and ``{order_id}`` replaced by real ids (or by ids nothing has)."""
    return re.sub(r"\{(\w+)\}", lambda m: str(999_999_999 if unknown else ids[m[1]]), text)


@pytest.fixture(scope="module")
def drift_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThrowawayMariaDB]:
    """A MariaDB of this module's own, to stop while the services run."""
    server = ThrowawayMariaDB(tmp_path_factory.mktemp("drift-mariadb")).start()
    assert run_init_db(server.url).returncode == 0
    yield server
    server.stop()


@pytest.fixture(scope="module")
def env(drift_db: ThrowawayMariaDB) -> dict[str, str]:
    return base_env(
        DATABASE_URL=drift_db.url,
        MAX_BODY_BYTES=str(MAX_BODY_BYTES),
        HTTP_READ_TIMEOUT="1",
        WEB_CONCURRENCY="1",
        OTEL_SDK_DISABLED="true",
    )


@pytest.fixture(scope="module")
def stack(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = Stack.start(tmp_path_factory.mktemp("drift-logs"), env)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def ids(stack: Stack) -> Ids:
    """A user with money and an order of theirs, and a user with no money."""
    with requests.Session() as http:
        users = [create_user(http, stack, balance=100_000), create_user(http, stack)]
        order = http.post(
            stack.order.url + "/orders",
            json={"user_id": users[0]["id"], "product_id": 1},
            timeout=TIMEOUT,
        )
    assert order.status_code == 201, order.text
    return {
        "user_id": users[0]["id"],
        "broke_user_id": users[1]["id"],
        "order_id": order.json()["id"],
    }


def callers_of(users_address: str, env: dict[str, str], log_dir: Path) -> list[ServiceProcess]:
    """payment and order, calling the users service at ``users_address``."""
    log_dir.mkdir()
    return [
        ServiceProcess(name, {**env, "USER_URL": users_address}, log_dir / f"{name}.log")
        .start()
        .wait_ready()
        for name in ("payment", "order")
    ]


def test_every_status_answered_is_documented(
    stack: Stack,
    ids: Ids,
    env: dict[str, str],
    drift_db: ThrowawayMariaDB,
    tmp_path: Path,
) -> None:
    seen: list[Seen] = []
    for service in stack.services:  # everything up
        seen.append(exercise(service.url, service.name, ids))

    hole = BlackHole()
    callers = [
        *callers_of(f"127.0.0.1:{free_port()}", env, tmp_path / "stopped"),  # users stopped
        *callers_of(f"127.0.0.1:{hole.port}", env, tmp_path / "hanging"),  # users hanging
    ]
    try:
        for caller in callers:
            seen.append(exercise(caller.url, caller.name, ids))
    finally:
        for caller in callers:
            caller.stop()
        hole.close()

    drift_db.kill()  # the database stopped
    try:
        for service in stack.services:
            seen.append(exercise(service.url, service.name, ids))
    finally:
        drift_db.start()

    answered = {status for one in seen for statuses in one.statuses.values() for status in statuses}
    # The faults were real: each kind of answer came back at least once.
    assert {200, 201, 400, 404, 413, 422, 503, 504} <= answered, answered
    assert [problem for one in seen for problem in one.undocumented()] == []
