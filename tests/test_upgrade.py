"""A database of the first release upgrades in place: ``init-db`` brings it to the newest schema.

On both databases: the first release's tables (its exact DDL) with users, balances and orders
in them; the real ``init-db``; then the old rows are untouched, every balance is explained by
the ledger (an opening credit each), and the schema is the services' models, no more, no less.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, make_url, text

from devkit.database import ledger_mismatches
from shared.init_db import SCHEMA, upgrade_schema
from tests.conftest import run_init_db

# Upgrades on both databases: each has its own DDL.
pytestmark = pytest.mark.both_databases

FIXTURES = Path(__file__).parent / "fixtures"
# (id, name, account, balance) and (user id, product id, name, price): the first release's rows.
USERS = [(1, "Ann", "a-1", 7_600), (2, "Bob", "b-2", 0), (3, "Cy", "c-3", 0), (4, "Di", "d-4", 250)]
ORDERS = [(1, 1, "Coffee mug", 1_200), (1, 2, "T-shirt", 2_500), (2, 1, "Coffee mug", 1_200)]
PRODUCTS = [(1, "Coffee mug", 1_200), (2, "T-shirt", 2_500)]
NEWEST = ["order_0003", "users_0003"]
# The release before idempotency keys: the ledger and orders' trace ids, no keys.
LEDGER_RELEASE = ("order_0002", "users_0002")


@pytest.fixture(params=["sqlite", "mysql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A database with nothing in it: a SQLite file, or a MySQL database of this test's own."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'first-release.sqlite3'}"
    else:
        server = make_url(request.getfixturevalue("mysql_url"))
        name = f"{server.database}_upgrade"  # beside the worker's own database, never shared
        url = server.set(database=name).render_as_string(hide_password=False)
        with create_engine(server).begin() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
            connection.execute(text(f"CREATE DATABASE `{name}`"))
    engine = create_engine(url)
    yield engine
    engine.dispose()


def first_release_database(engine: Engine) -> None:
    """The first release's schema, and the rows a person left in it."""
    dialect = "sqlite" if engine.dialect.name == "sqlite" else "mysql"
    lines = (FIXTURES / f"first-release-{dialect}.sql").read_text().splitlines()
    ddl = "\n".join(line for line in lines if not line.startswith("--"))
    with engine.begin() as connection:
        for statement in ddl.split(";"):
            if statement.strip():
                connection.exec_driver_sql(statement)
        for product in PRODUCTS:
            connection.execute(
                text("INSERT INTO products (id, name, price) VALUES (:id, :name, :price)"),
                dict(zip(("id", "name", "price"), product, strict=True)),
            )
        for user in USERS:
            connection.execute(
                text("INSERT INTO users VALUES (:id, :name, :account, :amount)"),
                dict(zip(("id", "name", "account", "amount"), user, strict=True)),
            )
        for user_id, product_id, name, price in ORDERS:
            connection.execute(
                text(
                    "INSERT INTO orders (user_id, product_id, product_name, price, status) "
                    "VALUES (:user_id, :product_id, :name, :price, 'PAID')"
                ),
                {"user_id": user_id, "product_id": product_id, "name": name, "price": price},
            )


def schema_drift(engine: Engine) -> list[object]:
    """What differs between the database and the services' models (nothing, when in step)."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, SCHEMA))


def test_a_first_release_database_upgrades_in_place(empty_database: Engine) -> None:
    first_release_database(empty_database)
    url = empty_database.url.render_as_string(hide_password=False)

    upgraded = run_init_db(url)
    assert upgraded.returncode == 0, upgraded.stderr
    # Each service's branch, from the first release's revision on.
    assert "Running upgrade users_0001 -> users_0002" in upgraded.stderr
    assert "Running upgrade order_0001 -> order_0002" in upgraded.stderr
    assert "-> users_0001" not in upgraded.stderr  # the first release's tables were kept
    again = run_init_db(url)  # nothing left to do
    assert again.returncode == 0 and "Running upgrade" not in again.stderr, again.stderr

    with empty_database.connect() as connection:
        users = connection.execute(text("SELECT id, user_name, account, amount FROM users"))
        assert sorted(tuple(row) for row in users) == USERS
        orders = connection.execute(
            text("SELECT user_id, product_id, product_name, price FROM orders ORDER BY id")
        )
        assert [tuple(row) for row in orders] == ORDERS
        openings = connection.execute(
            text("SELECT user_id, amount FROM credits WHERE source = 'opening' ORDER BY user_id")
        )
        # Balance plus what was paid: Ann 7,600 + 3,700; Bob 0 + 1,200; Di 250; Cy had nothing.
        assert [tuple(row) for row in openings] == [(1, 11_300), (2, 1_200), (4, 250)]
        products = connection.scalar(text("SELECT COUNT(*) FROM products"))
        assert products == 5  # the seed catalog completed, the old products kept
    assert ledger_mismatches(empty_database) == []
    assert schema_drift(empty_database) == []


def test_a_new_database_gets_the_schema_of_the_models(empty_database: Engine) -> None:
    created = run_init_db(empty_database.url.render_as_string(hide_password=False))
    assert created.returncode == 0, created.stderr
    assert schema_drift(empty_database) == []
    with empty_database.connect() as connection:
        versions = connection.scalars(text("SELECT version_num FROM alembic_version"))
        assert sorted(versions) == NEWEST  # each service's newest


def test_a_ledger_release_database_upgrades_to_idempotency_keys(empty_database: Engine) -> None:
    """The previous release (ledger, no keys): its credits and orders stay as they were."""
    with empty_database.begin() as connection:
        for revision in LEDGER_RELEASE:
            upgrade_schema(connection, revision)
        connection.execute(
            text("INSERT INTO products (id, name, price) VALUES (1, 'Coffee mug', 1200)")
        )
        connection.execute(text("INSERT INTO users VALUES (1, 'Ann', 'a-1', 800)"))
        connection.execute(
            text("INSERT INTO credits (user_id, amount, source) VALUES (1, 2000, 'credit')")
        )
        connection.execute(
            text(
                "INSERT INTO orders (user_id, product_id, product_name, price, status) "
                "VALUES (1, 1, 'Coffee mug', 1200, 'PAID')"
            )
        )
    upgraded = run_init_db(empty_database.url.render_as_string(hide_password=False))
    assert upgraded.returncode == 0, upgraded.stderr
    assert "Running upgrade users_0002 -> users_0003" in upgraded.stderr
    assert "Running upgrade order_0002 -> order_0003" in upgraded.stderr
    with empty_database.connect() as connection:
        credits = connection.execute(
            text("SELECT user_id, amount, source, idempotency_key, balance_after FROM credits")
        )
        assert [tuple(row) for row in credits] == [(1, 2000, "credit", None, None)]
        orders = connection.execute(text("SELECT user_id, price, idempotency_key FROM orders"))
        assert [tuple(row) for row in orders] == [(1, 1200, None)]
        versions = connection.scalars(text("SELECT version_num FROM alembic_version"))
        assert sorted(versions) == NEWEST
    assert ledger_mismatches(empty_database) == []
    assert schema_drift(empty_database) == []
