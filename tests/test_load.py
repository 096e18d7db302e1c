"""The load generator plays shoppers for a few seconds: every response is one its scenario
explains (Locust counts the rest as failures)."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from devkit.otlp_receiver import OtlpReceiver
from order.models import OrderRecord
from tests.stack import ROOT, ServiceProcess, Stack, base_env
from users.models import UserRecord

# The one locustfile: `make load` runs it, and the loadgen image (compose and the kustomize
# component) carries it.
LOCUSTFILE = ROOT / "loadgen" / "locustfile.py"


def test_make_load_runs_the_loadgen_locustfile() -> None:
    makefile = (ROOT / "Makefile").read_text()
    (path,) = re.findall(r"^LOCUSTFILE\s*:?=\s*(\S+)\s*$", makefile, flags=re.MULTILINE)
    assert ROOT / path == LOCUSTFILE and LOCUSTFILE.is_file()
    (recipe,) = re.findall(r"^load:.*\n((?:\t.*\n)+)", makefile, flags=re.MULTILINE)
    assert "--locustfile $(LOCUSTFILE)" in recipe


@pytest.mark.usefixtures("balances_match_the_ledger")  # the shoppers moved money
def test_load_generator_runs_against_the_page_origin(
    stack: Stack, receiver: OtlpReceiver, db: Engine, tmp_path: Path
) -> None:
    frontend = ServiceProcess(
        "frontend",
        stack.frontend_env(COLLECTOR_OTLP_HTTP_URL=receiver.http_endpoint),
        tmp_path / "frontend.log",
    ).start()
    frontend.wait_ready()
    spans_before = len(receiver.spans())
    with db.connect() as connection:
        last_user_before = int(
            connection.scalar(select(func.coalesce(func.max(UserRecord.id), 0))) or 0
        )
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "locust",
                "--locustfile",
                str(LOCUSTFILE),
                "--headless",
                "--users",
                "6",
                "--spawn-rate",
                "6",
                "--run-time",
                "8s",
                "--host",
                frontend.url,
                "--csv",
                str(tmp_path / "load"),
                "--only-summary",
            ],
            cwd=tmp_path,
            env=base_env(LOAD_SCENARIO_SHARE="0.5"),
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        frontend.stop()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    with open(tmp_path / "load_stats.csv") as stats:
        rows = {row["Name"]: row for row in csv.DictReader(stats)}
    total = rows["Aggregated"]
    assert int(total["Request Count"]) >= 20, total
    assert int(total["Failure Count"]) == 0, total
    assert {"/users", "/products", "/orders", "/payments/transfer/id/[user_id]"} <= set(rows)

    new_spans = receiver.spans()[spans_before:]
    scenarios = {s.attributes.get("app.scenario") for s in new_spans} - {None}
    assert len(scenarios) >= 2, scenarios

    # Money is conserved for the shoppers this run created: every credit the users service
    # applied (its span says so) is now in a balance or paid for an order.
    def credited_and_held() -> tuple[int, int]:
        credited: int = sum(
            int(span.attributes["app.amount"])
            for span in receiver.spans()[spans_before:]
            if span.name == "update user amount"
            and not span.is_error
            and "app.rejected" not in span.attributes
            and not span.attributes.get("app.idempotency.replayed")  # a replay applied nothing
            and int(span.attributes["app.user.id"]) > last_user_before
        )
        with db.connect() as connection:
            balances = connection.scalar(
                select(func.coalesce(func.sum(UserRecord.balance), 0)).where(
                    UserRecord.id > last_user_before
                )
            )
            paid = connection.scalar(
                select(func.coalesce(func.sum(OrderRecord.price), 0)).where(
                    OrderRecord.user_id > last_user_before
                )
            )
        return credited, int(balances or 0) + int(paid or 0)

    deadline = time.monotonic() + 20  # the last credit spans may still be in the export batch
    while (held := credited_and_held())[0] != held[1] and time.monotonic() < deadline:
        time.sleep(0.2)
    credited, in_balances_and_orders = held
    assert credited > 0
    assert credited == in_balances_and_orders
