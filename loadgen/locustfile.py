"""Realistic shoppers for the demo: create an account, top it up, browse, buy, run out of money.

Point it at the page's origin (it proxies every API path):
    make load                                   # against `make run` (http://localhost:5000)
    docker compose --profile load up            # against the compose stack
A share of transfers and orders (LOAD_SCENARIO_SHARE, default 0.2) carries a scenario from
LOAD_SCENARIOS as W3C baggage; responses count as failures only when the scenario does not
explain them. Every request that moves money carries a fresh Idempotency-Key.

For unattended runs (``make soak``): LOAD_PACING (tasks per second per shopper) replaces the
random think time with a constant pace, and LOAD_REQUESTS_FILE names a file that gets each
request as one JSON line (start time, flow, scenario, status, milliseconds, failure).
"""

from __future__ import annotations

import json
import os
import random
import uuid
from typing import Any

from locust import HttpUser, between, constant_throughput, events, task
from locust.clients import ResponseContextManager

SCENARIO_SHARE = float(os.environ.get("LOAD_SCENARIO_SHARE", "0.2"))
SCENARIOS = [
    name.strip()
    for name in os.environ.get(
        "LOAD_SCENARIOS", "slow-db,payment-failure,users-latency,lock-contention,lost-response"
    ).split(",")
    if name.strip()
]
PACING = float(os.environ.get("LOAD_PACING", "0"))
REQUESTS_FILE = os.environ.get("LOAD_REQUESTS_FILE")


def expect(response: ResponseContextManager, *statuses: int) -> None:
    """Success when the status is one the situation explains; otherwise a failure, with why."""
    if response.status_code in statuses:
        response.success()  # type: ignore[no-untyped-call]  # locust's own API is untyped
    else:
        response.failure(  # type: ignore[no-untyped-call]
            f"expected {statuses}, got {response.status_code}: {response.text[:200]}"
        )


def idempotency_key() -> str:
    """A fresh key for one money-moving request, as an RFC 9651 string (a UUID may start with a
    digit, which a bare token may not)."""
    return f'"{uuid.uuid4()}"'


class Shopper(HttpUser):
    """One customer at a time: signs up, tops up now and then, browses a lot, buys until broke,
    and leaves; the next customer then signs up."""

    wait_time = constant_throughput(PACING) if PACING > 0 else between(0.2, 1.5)

    def on_start(self) -> None:
        self.user_id = 0
        self.product_ids = [1]
        self.arrive()

    def arrive(self) -> None:
        """A new customer: an account of their own, a look at the catalog, a first top-up."""
        with self.client.post(
            "/users",
            json={"user_name": "Load Shopper", "account": f"LOAD-{random.randrange(10**6):06d}"},
            name="/users",
            catch_response=True,
        ) as response:
            expect(response, 201)
            if response.status_code == 201:
                self.user_id = response.json()["id"]
        self.browse()
        self.top_up()

    def scenario(self) -> str | None:
        """Most requests are normal; some ask for trouble."""
        if SCENARIOS and random.random() < SCENARIO_SHARE:
            return random.choice(SCENARIOS)
        return None

    def headers(self, scenario: str | None) -> dict[str, str]:
        return {"baggage": f"demo.scenario={scenario}"} if scenario else {}

    @task(3)
    def browse(self) -> None:
        with self.client.get("/products", name="/products", catch_response=True) as response:
            expect(response, 200)
            if response.status_code == 200:
                self.product_ids = [product["id"] for product in response.json()] or [1]

    @task(1)
    def top_up(self) -> None:
        if not self.user_id:
            return
        scenario = self.scenario()
        with self.client.put(
            f"/payments/transfer/id/{self.user_id}",
            json={"amount": random.choice([2_000, 5_000, 10_000, 25_000])},
            headers={**self.headers(scenario), "Idempotency-Key": idempotency_key()},
            name="/payments/transfer/id/[user_id]",
            context={"scenario": scenario},
            catch_response=True,
        ) as response:
            # payment-failure rejects a share of credits: a 503 is the scenario working.
            # lost-response: the first answer is lost, the payment service's retry is replayed.
            expect(response, 200, 503) if scenario == "payment-failure" else expect(response, 200)

    @task(4)
    def buy(self) -> None:
        if not self.user_id:
            return
        scenario = self.scenario()
        with self.client.post(
            "/orders",
            json={"user_id": self.user_id, "product_id": random.choice(self.product_ids)},
            headers={**self.headers(scenario), "Idempotency-Key": idempotency_key()},
            name="/orders",
            context={"scenario": scenario},
            catch_response=True,
        ) as response:
            # 422: this shopper ran out of money, which real shoppers do.
            expect(response, 201, 422)

    @task(1)
    def check_balance(self) -> None:
        if not self.user_id:
            return
        with self.client.get(
            f"/users/{self.user_id}", name="/users/[id]", catch_response=True
        ) as response:
            expect(response, 200)

    @task(1)
    def leave(self) -> None:
        """This customer is done; the next one sits down."""
        self.arrive()


if REQUESTS_FILE:
    # Line-buffered: a reader sees each request as soon as it has ended.
    _requests_log = open(REQUESTS_FILE, "a", buffering=1)

    def _record_request(
        request_type: str,
        name: str,
        response_time: float,
        response: Any,
        context: dict[str, Any],
        exception: BaseException | None,
        start_time: float,
        **_: Any,
    ) -> None:
        record = {
            "start": round(start_time, 3),
            "flow": f"{request_type} {name}",
            "scenario": context.get("scenario"),
            "status": getattr(response, "status_code", 0) or 0,
            "ms": round(response_time, 1),
            "failure": exception is not None,
        }
        _requests_log.write(json.dumps(record) + "\n")

    def _close_requests_log(**_: Any) -> None:
        _requests_log.close()

    # locust's event hooks are untyped.
    events.request.add_listener(_record_request)  # type: ignore[no-untyped-call]
    events.quitting.add_listener(_close_requests_log)  # type: ignore[no-untyped-call]
