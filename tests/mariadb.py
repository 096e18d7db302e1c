"""A throwaway MariaDB server of the test's own (own port, own data directory) to stop and
restart at will; the shared server on 3306 is never touched."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pymysql

from devkit.process import free_port

MARIADBD = "/usr/sbin/mariadbd"


class ThrowawayMariaDB:
    """``start()``, ``kill()`` and ``start()`` again on the same data: a database outage."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.datadir = workdir / "data"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        installed = subprocess.run(
            [
                "mariadb-install-db",
                "--no-defaults",  # ignore the machine's my.cnf (its log and socket paths)
                f"--datadir={self.datadir}",
                "--user=root",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert installed.returncode == 0, installed.stdout + installed.stderr

    @property
    def url(self) -> str:
        return f"mysql+pymysql://root@127.0.0.1:{self.port}/demo?charset=utf8mb4"

    def start(self, timeout: float = 60.0) -> ThrowawayMariaDB:
        with open(self.workdir / "mariadbd.log", "ab") as log:
            self.process = subprocess.Popen(
                [
                    MARIADBD,
                    "--no-defaults",
                    f"--datadir={self.datadir}",
                    f"--port={self.port}",
                    "--bind-address=127.0.0.1",
                    f"--socket={self.workdir / 'mysqld.sock'}",
                    f"--pid-file={self.workdir / 'mysqld.pid'}",
                    "--user=root",
                    "--innodb-buffer-pool-size=32M",
                    "--skip-log-bin",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while True:
            try:
                connection = pymysql.connect(host="127.0.0.1", port=self.port, user="root")
            except pymysql.err.OperationalError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    log_text = (self.workdir / "mariadbd.log").read_text(errors="replace")
                    raise AssertionError(f"mariadbd did not start:\n{log_text[-3000:]}") from None
                time.sleep(0.2)
                continue
            with connection, connection.cursor() as cursor:
                cursor.execute("CREATE DATABASE IF NOT EXISTS demo")
            return self

    def kill(self) -> None:
        """An abrupt outage: SIGKILL, as a crash or a lost machine would be."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(60)
