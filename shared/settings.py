"""Every variable the project's own code reads, declared once: the fields of :class:`Settings`.

A frozen object built from the environment at start-up (pydantic-settings); a field
``user_url`` is the variable ``USER_URL``. OpenTelemetry's own ``OTEL_*`` variables are not
here: the SDK reads them itself. A bad value stops the process with a :class:`ConfigError`
naming the variable. Of the project it imports only the scenarios' names (``shared.scenarios``,
whose Flask and OpenTelemetry imports set nothing up), so the gunicorn master reads its settings
without importing an app or starting telemetry.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal, Self, TypeVar

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from sqlalchemy import URL, make_url

from shared.scenarios import Scenario

DEFAULT_SQLITE_URL = "sqlite:///var/tracing-demo.sqlite3"
DEFAULT_SPANS_FILE = "var/spans.log"
DEFAULT_LOGS_FILE = "var/logs.log"

Milliseconds = Annotated[int, Field(ge=0, le=60_000)]
Seconds = Annotated[float, Field(gt=0)]


class ConfigError(ValueError):
    """A configuration variable is missing or malformed; the process should not start."""


# A browser origin, literally: scheme://host[:port] (never "*", never a pattern).
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")


class Settings(BaseSettings):
    """The project's variables; each field's name, upper-cased, is its environment variable."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")
    # Fields for which an empty value is a value; for every other one empty means unset
    # (compose's ${X:-} passes empty strings).
    empty_is_a_value: ClassVar[frozenset[str]] = frozenset()

    # The database: DATABASE_URL, else the Go sample's SQL_* variables, else embedded SQLite.
    database_url: str = DEFAULT_SQLITE_URL
    sql_host: str | None = None
    sql_user: str | None = None
    sql_password: str | None = None
    sql_db: str | None = None

    # Where each process listens and finds the others (bare ``host:port``, as the Go sample).
    user_url: str = "http://localhost:8080"
    payment_url: str = "http://localhost:8081"
    order_url: str = "http://localhost:8082"
    frontend_url: str = "http://localhost:5000"

    # The services' HTTP behaviour.
    cors_allowed_origins: Annotated[tuple[str, ...], NoDecode] = (
        "http://localhost:5000",
        "http://127.0.0.1:5000",
    )
    http_connect_timeout: Seconds = 1.0
    http_read_timeout: Seconds = 5.0
    max_body_bytes: Annotated[int, Field(gt=0)] = 16 * 1024
    # Money-moving writes (see shared.idempotency): how long a second write with the same key
    # waits for the first (MySQL's row lock wait, whole seconds) before a 409; and how long the
    # payment service may spend on a transfer, its retries included (well under the frontends'
    # 30 s proxy timeout).
    idempotency_wait_seconds: Annotated[int, Field(ge=1, le=60)] = 5
    transfer_budget_seconds: Seconds = 12.0

    # Scenarios (see docs/scenarios.md).
    default_scenario: Scenario | None = None
    payment_failure_rate: Annotated[float, Field(ge=0, le=1)] = 0.5
    scenario_slow_db_ms: Milliseconds = 400
    scenario_users_latency_ms: Milliseconds = 400
    scenario_lock_hold_ms: Milliseconds = 250
    # More than HTTP_READ_TIMEOUT, so the payment service gives up on the first answer.
    scenario_lost_response_ms: Milliseconds = 6000

    # Telemetry the project adds to the SDK's: the Go sample's switches, the local spans file.
    insecure_mode: bool | None = None
    signoz_access_token: str | None = None
    spans_file: str = DEFAULT_SPANS_FILE
    logs_file: str = DEFAULT_LOGS_FILE
    # How often a process reminds that a signal's export still fails (shared.export_problems).
    export_problem_interval_seconds: Seconds = 60.0
    log_level: Literal["DEBUG", "INFO", "WARN", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    # Processes: gunicorn, the container entry point, init-db.
    service: str | None = None
    port: Annotated[int, Field(gt=0, lt=65536)] | None = None
    bind: str | None = None
    web_concurrency: Annotated[int, Field(gt=0)] = 2
    gunicorn_threads: Annotated[int, Field(gt=0)] = 4
    graceful_timeout: Annotated[int, Field(gt=0)] = 10
    init_db_wait_seconds: Annotated[float, Field(ge=0)] = 60.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        """Settings from ``environ`` (default: the process environment); bad values raise."""
        try:
            if environ is None:
                return cls()
            names = {name.upper(): name for name in cls.model_fields}
            values = {names[k.upper()]: v for k, v in environ.items() if k.upper() in names}
            given_only: type[Self] = _given_only(cls)
            return given_only.model_validate(values)
        except ValidationError as exc:
            raise ConfigError(_describe(exc)) from None

    @model_validator(mode="before")
    @classmethod
    def _database_from_sql_variables(cls, values: Any) -> Any:
        """Empty values are unset; the Go sample's ``SQL_*`` build the URL without DATABASE_URL."""
        if not isinstance(values, dict):
            return values
        values = {k: v for k, v in values.items() if v != "" or k in cls.empty_is_a_value}
        if values.get("database_url"):
            return values
        host = values.get("sql_host")
        if not host:
            if any(values.get(name) for name in ("sql_user", "sql_password", "sql_db")):
                raise ValueError("SQL_USER/SQL_PASSWORD/SQL_DB are set but SQL_HOST is not")
            return values
        name, _, port = str(host).partition(":")
        if port and not port.isdigit():
            raise ValueError(f"SQL_HOST must be host or host:port, got {host!r}")
        url = URL.create(
            "mysql+pymysql",
            username=values.get("sql_user") or "root",
            password=values.get("sql_password") or None,
            host=name,
            port=int(port) if port else 3306,
            database=values.get("sql_db") or "tracing_demo",
            query={"charset": "utf8mb4"},
        )
        return {**values, "database_url": url.render_as_string(hide_password=False)}

    @field_validator("user_url", "payment_url", "order_url", "frontend_url", mode="after")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return normalize_base_url(value)

    @field_validator("cors_allowed_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip().rstrip("/") for part in value.split(",") if part.strip())
        return value

    @field_validator("cors_allowed_origins", mode="after")
    @classmethod
    def _literal_origins(cls, origins: tuple[str, ...]) -> tuple[str, ...]:
        for origin in origins:
            if not _ORIGIN.match(origin):
                raise ValueError(f"not an origin (scheme://host[:port], never *): {origin!r}")
        return origins

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value


SettingsT = TypeVar("SettingsT", bound=Settings)


@functools.cache
def _given_only(settings: type[SettingsT]) -> type[SettingsT]:
    """``settings`` reading a given mapping alone (tests, ``make run``'s merged ``.env``)."""

    def init_only(
        cls: type[BaseSettings],
        /,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        **environment: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)

    name = f"{settings.__name__}FromMapping"
    namespace = {"__module__": __name__, "__qualname__": name}
    return type(
        name, (settings,), {**namespace, "settings_customise_sources": classmethod(init_only)}
    )


def settings_or_exit(environ: Mapping[str, str] | None = None) -> Settings:
    """:meth:`Settings.from_env`, or (for a command) exit 2 with one line naming the variable."""
    try:
        return Settings.from_env(environ)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        variable = ".".join(str(part) for part in error["loc"]).upper()
        problems.append(f"{variable}: {error['msg']}" if variable else error["msg"])
    return "; ".join(problems)


def describe_database(url: str) -> str:
    """The database URL with its password hidden, for logs."""
    return make_url(url).render_as_string(hide_password=True)


def normalize_base_url(address: str) -> str:
    """Accept ``localhost:8080`` (the Go sample's form) as well as ``http://localhost:8080``."""
    address = address.strip().rstrip("/")
    if "://" not in address:
        address = "http://" + address
    return address
