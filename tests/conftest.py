"""Fixtures: a real OTLP receiver, real databases (SQLite and MySQL), real gunicorn services."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, sync_playwright
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.exc import OperationalError

from devkit.backends import Collector, Jaeger, missing_binaries, start_on_free_ports
from devkit.browser import CHROMIUM, CHROMIUM_ARGS
from devkit.database import ledger_mismatches
from devkit.otlp_receiver import OtlpReceiver
from shared.init_db import drop_schema
from tests.stack import ROOT, Stack, base_env

BACKENDS = ["sqlite", "mysql"]
FRONTENDS = ["python-server", "nginx"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "both_databases: run on MySQL too (the database is the point of the test)"
    )
    config.addinivalue_line(
        "markers", "both_frontends: run behind nginx too (the proxy is the point of the test)"
    )


# The longest modules (their summed durations in a run), started first: on parallel workers a
# long module left to the end would run alone while the other workers wait.
LONGEST_FIRST = [
    "test_bench",  # one test of a minute or more (its own virtualenv on a fresh clone)
    "test_soak",  # one test of a minute
    "test_completion_bench",
    "test_frontend",
    "test_real_jaeger",
    "test_real_collector",
    "test_metrics_source",
    "test_trace_view",
    "test_fuzz",
    "test_lifecycle",
    "test_resilience",
    "test_export_problems",
    "test_idempotency",
    "test_telemetry",
    "test_nginx_resolve",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest modules first; each module's own order (and so its grouping of the
    session's parametrized fixtures) is kept."""
    rank = {name: position for position, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.stem, len(rank)))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """SQLite alone, and `make run`'s Python server alone, unless a test is marked as being
    about the database (``both_databases``) or about the proxy (``both_frontends``)."""
    if "database_url" in metafunc.fixturenames:
        both = metafunc.definition.get_closest_marker("both_databases") is not None
        backends = BACKENDS if both else BACKENDS[:1]
        metafunc.parametrize("database_url", backends, indirect=True, scope="session")
    if "frontend" in metafunc.fixturenames:
        both = metafunc.definition.get_closest_marker("both_frontends") is not None
        kinds = FRONTENDS if both else FRONTENDS[:1]
        metafunc.parametrize("frontend", kinds, indirect=True, scope="session")


@pytest.fixture(scope="session")
def receiver() -> Iterator[OtlpReceiver]:
    """The OTLP/gRPC endpoint every test service exports its spans to."""
    otlp = OtlpReceiver().start()
    yield otlp
    otlp.stop()


def require_backends() -> None:
    """Skip (one line) where the real Collector and Jaeger are not built; in CI, fail."""
    missing = missing_binaries()
    if not missing:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the real Collector and Jaeger: {missing[0]} is not built")
    pytest.skip("the real Collector and Jaeger are not built: `make backends` needs Go")


@pytest.fixture(scope="session")
def jaeger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jaeger]:
    """Real Jaeger with the project's config (memory storage), shared by the tests of a pytest
    worker (the restart tests start their own)."""
    require_backends()
    log_dir = tmp_path_factory.mktemp("jaeger")
    running = start_on_free_ports(lambda: Jaeger.create(log_dir))
    yield running
    running.stop()


@pytest.fixture(scope="session")
def collector(jaeger: Jaeger, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    """The real Collector with common.yaml + jaeger.yaml, exporting to ``jaeger``, shared by the
    tests of a pytest worker. Its log holds the `debug` exporter's output (metrics, logs)."""
    log_dir = tmp_path_factory.mktemp("collector")
    running = start_on_free_ports(lambda: Collector.for_jaeger(log_dir, jaeger))
    yield running
    running.stop()


def _mysql_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("CI must run the MySQL tests: TEST_DATABASE_URL is not set")
        pytest.skip("TEST_DATABASE_URL is not set (e.g. mysql+pymysql://root@127.0.0.1:3306/test)")
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    server = create_engine(make_url(url).set(database=""))
    try:
        with server.connect() as connection:
            connection.execute(text("SELECT 1"))
            if worker:  # each parallel worker gets a database of its own: <name>_gw0, ...
                url = worker_database(url, worker)
                name = make_url(url).database
                connection.execute(text(f"CREATE DATABASE IF NOT EXISTS `{name}`"))
    except OperationalError as exc:
        pytest.fail(f"TEST_DATABASE_URL is set but MySQL is unreachable: {exc.orig}")
    finally:
        server.dispose()
    return url


def worker_database(url: str, worker: str) -> str:
    """``url`` with ``_<worker>`` added to its database's name."""
    parsed = make_url(url)
    return parsed.set(database=f"{parsed.database}_{worker}").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def mysql_url() -> str:
    """The MySQL of TEST_DATABASE_URL, for tests about MySQL alone."""
    return _mysql_url()


def run_init_db(database_url: str) -> subprocess.CompletedProcess[str]:
    """The real ``init-db`` command, as compose and Kubernetes will run it."""
    return subprocess.run(
        [sys.executable, "-m", "shared.init_db", "--wait", "5"],
        cwd=ROOT,
        env=base_env(DATABASE_URL=database_url),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="session")
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An empty database of the backend the test is parametrized with (see
    ``pytest_generate_tests``), initialised by ``init-db``."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'demo.sqlite3'}"
    else:
        url = _mysql_url()
        engine = create_engine(url)
        drop_schema(engine)
        engine.dispose()
    result = run_init_db(url)
    assert result.returncode == 0, result.stderr
    return url


@pytest.fixture(scope="session")
def db(database_url: str) -> Iterator[Engine]:
    """The test's own connection to the services' database, to check what they wrote."""
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def stack(
    database_url: str, receiver: OtlpReceiver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """users, payment and order under gunicorn, exporting over OTLP/gRPC to ``receiver``.

    Two workers each, as in `make run`: many tests share this stack, and some are about workers
    (each exports its own series, concurrent requests on separate connections). A stack a
    test starts for itself has one (``base_env``).
    """
    log_dir = tmp_path_factory.mktemp("logs")
    env = base_env(
        DATABASE_URL=database_url,
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        WEB_CONCURRENCY="2",
        # No test reads this stack's metrics (those that do start a stack of their own): the
        # SDK's default interval, not a second, so idle stacks cost the other tests no CPU.
        OTEL_METRIC_EXPORT_INTERVAL="60000",
    )
    running = Stack.start(log_dir, env)
    yield running
    running.stop()


@pytest.fixture
def balances_match_the_ledger(db: Engine) -> Iterator[None]:
    """After the test: every balance equals its user's credits minus their paid orders."""
    yield
    assert ledger_mismatches(db) == []


@pytest.fixture
def http() -> Iterator[requests.Session]:
    """A plain HTTP client (pooled, like a browser)."""
    with requests.Session() as session:
        yield session


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, driven by Playwright (no browser download)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def _npm_ci(work: Path) -> Path:
    """frontend/'s package files and sources copied to ``work``, with ``npm ci`` run there."""
    if shutil.which("npm") is None:
        pytest.fail("npm is needed to rebuild the browser bundle and to audit the page")
    source = ROOT / "frontend"
    work.mkdir(exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copy(source / name, work / name)
    shutil.copytree(source / "src", work / "src", dirs_exist_ok=True)
    (work / "static").mkdir(exist_ok=True)
    installed = subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if installed.returncode != 0:
        pytest.fail(f"npm ci failed:\n{installed.stderr}")
    return work


@pytest.fixture(scope="session")
def npm_installed_frontend(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of frontend/ (package files, src/, an empty static/) with its devDependencies
    installed from the lock file: the bundle's build tools and axe-core for the page's audit.

    One ``npm ci`` per test run: the parallel workers' temporary folders share a parent, where
    the first worker to need it installs under a lock and the others reuse it.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return _npm_ci(tmp_path_factory.mktemp("npm"))
    run_folder = tmp_path_factory.getbasetemp().parent
    work, done = run_folder / "npm", run_folder / "npm.done"
    with open(run_folder / "npm.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            _npm_ci(work)
            done.touch()
    return work
