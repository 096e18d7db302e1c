"""The users client maps every failure to the gateway error a caller should see."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from shared.contract import User
from shared.errors import (
    ApiError,
    BadGateway,
    GatewayTimeout,
    NotFound,
    ServiceUnavailable,
    Unprocessable,
)
from shared.users_client import MAX_ATTEMPTS, UsersClient
from tests.fake_peers import BlackHole, CannedServer, DroppingPeer, HtmlServer


@contextmanager
def users_answering(status: int, body: bytes) -> Iterator[UsersClient]:
    """A client to a users service that answers every request with ``status`` and ``body``."""
    server = CannedServer(status, body)
    try:
        yield UsersClient(server.url, connect_timeout=1, read_timeout=5)
    finally:
        server.close()


USER = {"id": 3, "user_name": "Ann", "account": "a", "amount": 500}


@pytest.mark.parametrize(
    ("status", "body", "error", "code"),
    [
        (
            404,
            {"error": "user_not_found", "message": "User 3 does not exist."},
            NotFound,
            "user_not_found",
        ),
        (
            422,
            {"error": "balance_limit_exceeded", "message": "no", "balance": 7},
            Unprocessable,
            "balance_limit_exceeded",
        ),
        (
            503,
            {"error": "credit_rejected", "message": "ledger"},
            ServiceUnavailable,
            "credit_rejected",
        ),
        (504, {"error": "gateway_timeout", "message": "slow"}, GatewayTimeout, "gateway_timeout"),
        (500, {"error": "internal_error", "message": "oops"}, BadGateway, "internal_error"),
        (418, {"error": "teapot", "message": "?"}, BadGateway, "teapot"),
    ],
)
def test_error_answers_become_the_matching_api_error(
    status: int, body: dict[str, object], error: type[ApiError], code: str
) -> None:
    with users_answering(status, json.dumps(body).encode()) as client:
        with pytest.raises(error) as raised:
            client.credit(3, 100, b"k-1")
    assert type(raised.value) is error
    assert raised.value.code == code
    assert raised.value.message == body["message"]
    if "balance" in body:
        assert raised.value.details == {"balance": 7}


@pytest.mark.parametrize("body", [b"<html>proxy error</html>", b"[1, 2]", b""])
def test_an_answer_that_is_not_a_json_object_is_a_bad_gateway(body: bytes) -> None:
    with users_answering(200, body) as client, pytest.raises(BadGateway):
        client.get_user(3)


def test_a_successful_answer_is_the_user() -> None:
    with users_answering(200, json.dumps(USER).encode()) as client:
        user = client.get_user(3)
    assert (user.id, user.balance) == (3, 500)
    assert user.model_dump() == USER  # the Go sample's JSON names, "amount" for the balance


@pytest.fixture
def closed_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])  # bound, never listening: connections are refused


def test_a_refused_connection_is_503(closed_port: int) -> None:
    client = UsersClient(f"http://127.0.0.1:{closed_port}", connect_timeout=1, read_timeout=1)
    with pytest.raises(ServiceUnavailable) as raised:
        client.get_user(1)
    assert raised.value.code == "upstream_unavailable"


def test_a_credit_that_gets_no_answer_is_tried_three_times_then_504() -> None:
    with BlackHole() as hole:
        client = UsersClient(f"http://127.0.0.1:{hole.port}", connect_timeout=1, read_timeout=0.2)
        with pytest.raises(GatewayTimeout) as raised:
            client.credit(1, 100, b"k-1")
    assert raised.value.code == "upstream_timeout"
    assert hole.connections == MAX_ATTEMPTS  # the client has returned: no attempt is left


def test_a_read_that_gets_no_answer_is_not_tried_again() -> None:
    """A hung users service: a read waits once, never three times (it has no key to need it)."""
    with BlackHole() as hole:
        client = UsersClient(f"http://127.0.0.1:{hole.port}", connect_timeout=1, read_timeout=0.2)
        with pytest.raises(GatewayTimeout):
            client.get_user(1)
    assert hole.connections == 1


def test_the_budget_bounds_the_attempts() -> None:
    with BlackHole() as hole:
        client = UsersClient(
            f"http://127.0.0.1:{hole.port}", connect_timeout=1, read_timeout=5, budget_s=0.3
        )
        with pytest.raises(GatewayTimeout):
            client.credit(1, 100, b"k-1")  # the first attempt's read waits what is left: 0.3 s
    assert hole.connections == 1


def test_a_dropped_connection_is_tried_again_then_503() -> None:
    with DroppingPeer() as peer:
        client = UsersClient(f"http://127.0.0.1:{peer.port}", connect_timeout=1, read_timeout=1)
        with pytest.raises(ServiceUnavailable) as raised:
            client.get_user(1)
    assert raised.value.code == "upstream_unavailable"
    assert peer.connections == MAX_ATTEMPTS


def test_an_answer_is_never_tried_again_not_even_a_5xx() -> None:
    with CannedServer(503, b'{"error": "credit_rejected", "message": "no"}') as server:
        client = UsersClient(server.url, connect_timeout=1, read_timeout=1)
        with pytest.raises(ServiceUnavailable):
            client.credit(1, 100, b"k-1")
    assert len(server.received) == 1


def test_a_credit_sends_its_key_as_a_quoted_string_and_reads_the_replay() -> None:
    replaying = CannedServer(
        200, json.dumps(USER).encode(), headers={"Idempotent-Replayed": "true"}
    )
    with replaying as server:
        credited = UsersClient(server.url, connect_timeout=1, read_timeout=1).credit(
            3, 100, b'k "1"'
        )
    assert server.received[0]["Idempotency-Key"] == '"k \\"1\\""'
    assert (credited.replayed, credited.attempts, credited.user.balance) == (True, 1, 500)


def test_html_instead_of_a_user_is_a_bad_gateway() -> None:
    server = HtmlServer()
    try:
        client = UsersClient(f"http://127.0.0.1:{server.port}", connect_timeout=1, read_timeout=1)
        with pytest.raises(BadGateway) as raised:
            client.get_user(1)
        assert raised.value.code == "bad_upstream_response"
    finally:
        server.close()


@pytest.mark.parametrize(
    "body",
    [
        {"id": 0, "user_name": "x"},
        {**USER, "amount": "500"},
        {"id": 3, "user_name": "Ann", "account": "a", "balance": 500},  # Python's name, not JSON's
    ],
)
def test_json_that_is_not_a_user_is_a_bad_gateway(body: dict[str, object]) -> None:
    with users_answering(200, json.dumps(body).encode()) as client:
        with pytest.raises(BadGateway) as raised:
            client.get_user(3)
    assert raised.value.code == "bad_upstream_response"
    assert User.model_validate(USER).balance == 500
