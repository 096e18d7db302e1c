"""The database: the one declarative base of the schema, and one pool per process (created
after gunicorn forks).

Each service declares the tables it owns on :class:`Base` (``users/models.py``,
``order/models.py``); ``init-db`` imports them all and creates the one schema.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

from sqlalchemy import (
    BigInteger,
    Engine,
    Integer,
    LargeBinary,
    Select,
    Update,
    create_engine,
    event,
    make_url,
)
from sqlalchemy.dialects.mysql import VARBINARY
from sqlalchemy.orm import DeclarativeBase, InstrumentedAttribute, Session
from sqlalchemy.pool import ConnectionPoolEntry

# Balances and prices are integer cents; BIGINT keeps large balances exact.
Cents = BigInteger().with_variant(Integer(), "sqlite")
# Row ids, and the foreign keys to them: BIGINT, but INTEGER on SQLite, where only an INTEGER
# PRIMARY KEY is the rowid that numbers new rows itself.
Id = BigInteger().with_variant(Integer(), "sqlite")
# An Idempotency-Key (shared.idempotency), compared byte for byte: binary on MySQL (no collation
# folds case or pads spaces), a BLOB on SQLite.
IdempotencyKey = LargeBinary().with_variant(VARBINARY(255), "mysql", "mariadb")

# How long a SQLite writer waits for the file lock before giving up.
SQLITE_BUSY_TIMEOUT_S = 30
# Execution option marking a transaction that will write (see `writer`).
WRITE_OPTION = "demo_writes"


class Base(DeclarativeBase):
    """Declarative base for every table of the demo, whichever service owns it."""


def create_db_engine(url: str, lock_wait_timeout_s: int = 5) -> Engine:
    """An engine tuned for the demo's backend: MySQL through PyMySQL, or an embedded SQLite file.

    On MySQL a statement waits ``lock_wait_timeout_s`` for a row lock before failing (the
    server's default is 50 s): a second write with the same idempotency key waits that long for
    the first (``IDEMPOTENCY_WAIT_SECONDS``). SQLite's writers queue for its one write lock.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _create_sqlite_engine(url)
    connect_args: dict[str, Any] = {}
    if parsed.get_driver_name() == "pymysql":
        connect_args = {"connect_timeout": 3, "read_timeout": 15, "write_timeout": 15}
    # No pool_pre_ping: it costs a round trip on every checkout. A connection the server
    # dropped fails its request (503) and SQLAlchemy then invalidates the whole pool, so the
    # next requests reconnect: recovery after a database restart takes one failed request.
    engine = create_engine(
        url,
        pool_size=10,
        max_overflow=10,
        pool_timeout=5,
        pool_recycle=1800,
        connect_args=connect_args,
    )

    @event.listens_for(engine, "connect")
    def _set_lock_wait_timeout(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        with dbapi_connection.cursor() as cursor:
            # UTC, as SQLite's CURRENT_TIMESTAMP: the rows' times mean the same on both.
            cursor.execute(
                f"SET SESSION innodb_lock_wait_timeout = {int(lock_wait_timeout_s)}, "
                "time_zone = '+00:00'"
            )

    return engine


def writer(engine: Engine) -> Engine:
    """The same engine (same pool) for transactions that will write.

    On SQLite they start with ``BEGIN IMMEDIATE``; elsewhere the option changes nothing.
    """
    return engine.execution_options(**{WRITE_OPTION: True})


def _create_sqlite_engine(url: str) -> Engine:
    """SQLite with WAL; write transactions take the write lock at BEGIN, reads never do.

    pysqlite's own transaction handling starts a deferred transaction, which can fail at once
    with "database is locked" when a reader later tries to write; taking the write lock at
    BEGIN makes every writing transaction wait its turn (up to the busy timeout), while
    reads go on beside it (WAL).
    """
    engine = create_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None
        # MySQL has SLEEP(); give SQLite one, so `SELECT sleep(...)` is one statement for both.
        dbapi_connection.create_function("sleep", 1, _sqlite_sleep)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _sqlite_sleep(seconds: float) -> int:
    time.sleep(seconds)
    return 0


class Listed(Protocol):
    """A row of a listing: it has an id, which grows with time."""

    @property
    def id(self) -> int: ...


RowT = TypeVar("RowT", bound=Listed)


def newest_first(
    session: Session,
    query: Select[tuple[RowT]],
    id_column: InstrumentedAttribute[int],
    *,
    limit: int,
    cursor: int | None,
) -> tuple[Sequence[RowT], str | None]:
    """A page of ``query``'s rows, newest (highest ``id_column``) first and below ``cursor``,
    and the cursor of the next page (``None`` when there is no more)."""
    if cursor is not None:
        query = query.where(id_column < cursor)
    rows = session.scalars(query.order_by(id_column.desc()).limit(limit + 1)).all()
    if len(rows) > limit:
        return rows[:limit], str(rows[limit - 1].id)
    return rows, None


def rows_affected(session: Session, statement: Update) -> int:
    """Run an UPDATE in the session's transaction and return how many rows it changed."""
    return session.connection().execute(statement).rowcount
