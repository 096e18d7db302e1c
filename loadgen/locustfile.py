"""Realistic shoppers for the demo: create an account, top it up, browse, buy, run out of money.

Point it at the page's origin (it proxies every API path):
    make load                                   # against `make run` (http://localhost:5000)
    docker compose --profile load up            # against the compose stack
A share of requests (LOAD_SCENARIO_SHARE, default 0.2) carries a scenario from LOAD_SCENARIOS
as W3C baggage; responses count as failures only when the scenario does not explain them.
"""

from __future__ import annotations

import os
import random

from locust import HttpUser, between, task
from locust.clients import ResponseContextManager

SCENARIO_SHARE = float(os.environ.get("LOAD_SCENARIO_SHARE", "0.2"))
SCENARIOS = [
    name.strip()
    for name in os.environ.get(
        "LOAD_SCENARIOS", "slow-db,payment-failure,users-latency,lock-contention"
    ).split(",")
    if name.strip()
]


def expect(response: ResponseContextManager, *statuses: int) -> None:
    """Success when the status is one the situation explains; otherwise a failure, with why."""
    if response.status_code in statuses:
        response.success()  # type: ignore[no-untyped-call]  # locust's own API is untyped
    else:
        response.failure(  # type: ignore[no-untyped-call]
            f"expected {statuses}, got {response.status_code}: {response.text[:200]}"
        )


class Shopper(HttpUser):
    """One customer: signs up, tops up now and then, browses a lot, buys until broke."""

    wait_time = between(0.2, 1.5)

    def on_start(self) -> None:
        self.user_id = 0
        self.product_ids = [1]
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
            headers=self.headers(scenario),
            name="/payments/transfer/id/[user_id]",
            catch_response=True,
        ) as response:
            # payment-failure rejects a share of credits: a 503 is the scenario working.
            expect(response, 200, 503) if scenario == "payment-failure" else expect(response, 200)

    @task(4)
    def buy(self) -> None:
        if not self.user_id:
            return
        scenario = self.scenario()
        with self.client.post(
            "/orders",
            json={"user_id": self.user_id, "product_id": random.choice(self.product_ids)},
            headers=self.headers(scenario),
            name="/orders",
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
