"""Starting the real services as gunicorn processes for the tests."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from devkit.process import child_pids, free_port
from shared.launch import PROCESSES_BY_NAME
from shared.launch.process import ROOT, NotReady, start_service, wait_until_ready

__all__ = ["ROOT", "ServiceProcess", "Stack", "base_env"]


def base_env(**overrides: str) -> dict[str, str]:
    """The environment of a test service: this interpreter's, minus anything from a local .env."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("OTEL_", "SQL_")) and key not in {"DATABASE_URL", "USER_URL"}
    }
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            # Export quickly so tests see spans, logs and metrics within a fraction of a second.
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "OTEL_BLRP_SCHEDULE_DELAY": "100",
            "OTEL_METRIC_EXPORT_INTERVAL": "1000",
            # One worker: a test about workers asks for more.
            "WEB_CONCURRENCY": "1",
            "GUNICORN_THREADS": "4",
            "GRACEFUL_TIMEOUT": "10",
        }
    )
    env.update(overrides)
    return env


@dataclass
class ServiceProcess:
    """One service under gunicorn, its output captured to ``log_path``."""

    name: str
    env: Mapping[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServiceProcess:
        with open(self.log_path, "ab") as log:
            self.process = start_service(
                PROCESSES_BY_NAME[self.name], self.port, self.env, output=log
            )
        return self

    def wait_ready(self, path: str = "/healthz", timeout: float = 60.0) -> ServiceProcess:
        """Poll ``path`` until it answers 200; fail with the service's log if it never does."""
        assert self.process is not None
        try:
            wait_until_ready(self.url, self.process, timeout, path)
        except NotReady as exc:
            raise AssertionError(f"{self.name}: {exc}\n{self.log()}") from None
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> float:
        """Send ``sig`` and wait for the exit; return how long the exit took, in seconds."""
        if self.process is None or self.process.poll() is not None:
            return 0.0
        started = time.monotonic()
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"{self.name} did not exit within {timeout}s") from None
        return time.monotonic() - started

    def flush_and_stop(self) -> None:
        """Stop gracefully: each worker flushes its spans, logs and metrics on the way out.

        Once it has exited (cleanly, status 0), nothing more can arrive from it: the barrier
        for a check that something was NOT exported.
        """
        self.stop()
        assert self.process is not None and self.process.returncode == 0, self.log()

    def worker_pids(self) -> list[int]:
        """The gunicorn workers (the master's children)."""
        assert self.process is not None
        return child_pids(self.process.pid)

    def crash(self) -> None:
        """SIGKILL the master and every worker at once: the service dies mid-request."""
        assert self.process is not None
        for pid in [*self.worker_pids(), self.process.pid]:
            os.kill(pid, signal.SIGKILL)
        self.process.wait(30)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]


@dataclass
class Stack:
    """The three services started together against one database and one OTLP endpoint."""

    users: ServiceProcess
    payment: ServiceProcess
    order: ServiceProcess

    @classmethod
    def start(cls, log_dir: Path, env: Mapping[str, str]) -> Stack:
        users = ServiceProcess("users", env, log_dir / "users.log").start()
        user_url = f"127.0.0.1:{users.port}"  # the Go sample's bare host:port form
        payment = ServiceProcess(
            "payment", {**env, "USER_URL": user_url}, log_dir / "payment.log"
        ).start()
        order = ServiceProcess(
            "order", {**env, "USER_URL": user_url}, log_dir / "order.log"
        ).start()
        stack = cls(users, payment, order)
        for service in stack.services:
            service.wait_ready("/readyz")
        return stack

    def frontend_env(self, **variables: str) -> dict[str, str]:
        """The frontend server's environment in front of this stack, plus ``variables``."""
        return base_env(
            USER_URL=self.users.url,
            PAYMENT_URL=self.payment.url,
            ORDER_URL=self.order.url,
            **variables,
        )

    @property
    def services(self) -> tuple[ServiceProcess, ...]:
        return (self.users, self.payment, self.order)

    def stop(self) -> None:
        # Callers first: their pooled keep-alive connections to users close as they exit, so
        # users' graceful stop has no idle connection to wait out.
        for service in reversed(self.services):
            service.stop()
