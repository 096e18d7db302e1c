"""``init-db``: bring the schema up to date and seed the catalog, before the services start.

Idempotent: revisions already applied are not applied again and seed products that exist are
not rewritten, so compose and Kubernetes can run it on every deploy; a database of an earlier
release is upgraded in place (``shared/migrations``).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, ForeignKeyConstraint, inspect, make_url, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_delay,
    wait_fixed,
)

from order.models import SEED_PRODUCTS, OrderRecord, ProductRecord
from shared.db import Base, create_db_engine
from shared.settings import describe_database, settings_or_exit
from users.models import CreditRecord, UserRecord

log = logging.getLogger("init-db")

# The one schema: each service declares the tables it owns on the one base, and importing
# their models here is what gathers them all.
SCHEMA = Base.metadata
SERVICE_MODELS = (UserRecord, CreditRecord, ProductRecord, OrderRecord)
# Its history: each service's revisions (init-db applies those the database has not had yet),
# run by Alembic from shared/migrations.
ROOT = Path(__file__).resolve().parents[1]
RUNNER = ROOT / "shared" / "migrations"
REVISIONS = [ROOT / "users" / "migrations", ROOT / "order" / "migrations"]
# The first release's schema: the order branch's first revision, which depends on the users'.
FIRST_RELEASE = "order_0001"
# The one key that crosses services (an order's user), declared where both tables are known:
# the order service itself never loads users/, so its model cannot name the users table.
_orders = SCHEMA.tables[OrderRecord.__tablename__]
if not any(key.target_fullname == "users.id" for key in _orders.foreign_keys):  # once only
    _orders.append_constraint(ForeignKeyConstraint(["user_id"], [UserRecord.id]))


def init_db(engine: Engine) -> int:
    """Create missing tables and insert missing seed products; return how many were inserted.

    On MySQL a named lock serialises concurrent runs (several pods' init containers may start
    at once), so two of them never race to create the same table or seed the same product.
    """
    with engine.connect() as lock_holder:
        is_mysql = lock_holder.dialect.name in ("mysql", "mariadb")
        if is_mysql:
            lock_holder.scalar(text("SELECT GET_LOCK('tracing_demo_init_db', 120)"))
        try:
            return _create_schema_and_seed(engine)
        finally:
            if is_mysql:
                lock_holder.scalar(text("SELECT RELEASE_LOCK('tracing_demo_init_db')"))


def _create_schema_and_seed(engine: Engine) -> int:
    with engine.begin() as connection:
        upgrade_schema(connection)
    with Session(engine) as session, session.begin():
        existing = set(session.scalars(select(ProductRecord.id)))
        missing = [
            ProductRecord(id=pid, name=name, price=price)
            for pid, name, price in SEED_PRODUCTS
            if pid not in existing
        ]
        session.add_all(missing)
    return len(missing)


def upgrade_schema(connection: Connection, revision: str = "heads") -> None:
    """Bring the database to ``revision`` (the newest by default) with Alembic's revisions.

    A database the first release made (its tables, no version table) is marked as being at
    that release's revision first, then upgraded in place like any other.
    """
    config = Config()
    config.set_main_option("script_location", str(RUNNER))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", os.pathsep.join(map(str, REVISIONS)))
    config.attributes["connection"] = connection
    tables = inspect(connection).get_table_names()
    if "users" in tables and "alembic_version" not in tables:
        command.stamp(config, FIRST_RELEASE)
    command.upgrade(config, revision)


def drop_schema(engine: Engine) -> None:
    """Every table, the version table too: an empty database (the tests' and the bench's)."""
    SCHEMA.drop_all(engine)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))


def wait_for_database(engine: Engine, timeout_s: float) -> None:
    """Retry the first connection: in compose and Kubernetes the database may still be starting.

    Once a second for ``timeout_s``; then the last connection error is raised.
    """
    retrying = Retrying(
        retry=retry_if_exception_type(OperationalError),
        stop=stop_after_delay(timeout_s),
        wait=wait_fixed(1),
        before_sleep=_log_not_reachable,
        reraise=True,
    )
    for attempt in retrying:
        with attempt:
            engine.connect().close()


def _log_not_reachable(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    log.info("database not reachable yet (%s); retrying", getattr(error, "orig", error))


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    settings = settings_or_exit()
    parser = argparse.ArgumentParser(prog="init-db", description=__doc__)
    parser.add_argument(
        "--wait",
        type=float,
        default=settings.init_db_wait_seconds,
        help="seconds to keep retrying while the database is unreachable (default 60)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    url = settings.database_url
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_db_engine(url)
    try:
        wait_for_database(engine, args.wait)
        inserted = init_db(engine)
    except OperationalError as exc:
        log.error("cannot initialise %s: %s", describe_database(url), exc.orig)
        return 1
    finally:
        engine.dispose()
    log.info("schema ready on %s (%d seed products added)", describe_database(url), inserted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
