"""Fast tests: the apps through Flask's test client and plain function calls.

No subprocess and no gunicorn: each app runs in this process against its own SQLite file,
initialised by the real ``init_db`` (the users client's tests use small in-process sockets).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from shared.db import create_db_engine
from shared.init_db import init_db
from shared.settings import Settings

MakeApp = Callable[..., Flask]


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Engine]:
    """A fresh SQLite database with the schema and the catalog."""
    engine = create_db_engine(f"sqlite:///{tmp_path / 'unit.sqlite3'}")
    init_db(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def make_app(database: Engine) -> MakeApp:
    """``make_app("users", DEFAULT_SCENARIO="payment-failure")``: a service app on ``database``."""

    def make(service: str, **variables: str) -> Flask:
        module = __import__(service)
        env = {"DATABASE_URL": database.url.render_as_string(hide_password=False), **variables}
        app: Flask = module.create_app(Settings.from_env(env))
        return app

    return make


@pytest.fixture
def users(make_app: MakeApp) -> FlaskClient:
    """The users service's test client."""
    return make_app("users").test_client()
