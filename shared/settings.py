"""One frozen settings object per process, read from the environment at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import URL, make_url

from shared.errors import ConfigError
from shared.scenarios import ScenarioSettings

__all__ = ["ConfigError", "Settings"]

DEFAULT_SQLITE_URL = "sqlite:///var/tracing-demo.sqlite3"
DEFAULT_CORS_ORIGINS = ("http://localhost:5000", "http://127.0.0.1:5000")


@dataclass(frozen=True)
class Settings:
    """Everything a service needs from its environment."""

    database_url: str
    user_url: str
    cors_origins: tuple[str, ...]
    http_connect_timeout: float
    http_read_timeout: float
    max_body_bytes: int
    scenarios: ScenarioSettings

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``environ`` (default ``os.environ``); bad values raise."""
        env = os.environ if environ is None else environ
        return cls(
            database_url=database_url_from_env(env),
            user_url=normalize_base_url(env.get("USER_URL") or "localhost:8080"),
            cors_origins=_split_csv(env.get("CORS_ALLOWED_ORIGINS"), DEFAULT_CORS_ORIGINS),
            http_connect_timeout=_positive_float(env, "HTTP_CONNECT_TIMEOUT", 1.0),
            http_read_timeout=_positive_float(env, "HTTP_READ_TIMEOUT", 5.0),
            max_body_bytes=int(_positive_float(env, "MAX_BODY_BYTES", 16 * 1024)),
            scenarios=ScenarioSettings.from_env(env),
        )


def database_url_from_env(env: Mapping[str, str]) -> str:
    """``DATABASE_URL`` wins; else the Go sample's ``SQL_*`` variables; else embedded SQLite."""
    if env.get("DATABASE_URL"):
        return env["DATABASE_URL"]
    if env.get("SQL_HOST"):
        host, _, port = env["SQL_HOST"].partition(":")
        url = URL.create(
            "mysql+pymysql",
            username=env.get("SQL_USER") or "root",
            password=env.get("SQL_PASSWORD") or None,
            host=host,
            port=int(port) if port else 3306,
            database=env.get("SQL_DB") or "tracing_demo",
            query={"charset": "utf8mb4"},
        )
        return url.render_as_string(hide_password=False)
    if any(env.get(name) for name in ("SQL_USER", "SQL_PASSWORD", "SQL_DB")):
        raise ConfigError("SQL_USER/SQL_PASSWORD/SQL_DB are set but SQL_HOST is not")
    return DEFAULT_SQLITE_URL


def describe_database(url: str) -> str:
    """The database URL with its password hidden, for logs."""
    return make_url(url).render_as_string(hide_password=True)


def normalize_base_url(address: str) -> str:
    """Accept ``localhost:8080`` (the Go sample's form) as well as ``http://localhost:8080``."""
    address = address.strip().rstrip("/")
    if "://" not in address:
        address = "http://" + address
    return address


def parse_bool(value: str) -> bool:
    """``true/1/yes/on`` and ``false/0/no/off``, case-insensitive; anything else is an error."""
    lowered = value.strip().lower()
    if lowered in {"true", "1", "yes", "on"}:
        return True
    if lowered in {"false", "0", "no", "off", ""}:
        return False
    raise ConfigError(f"not a boolean: {value!r}")


def _split_csv(value: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    if value is None or not value.strip():
        return default
    return tuple(part.strip().rstrip("/") for part in value.split(",") if part.strip())


def _positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive, got {raw!r}")
    return value
