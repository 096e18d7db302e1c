"""Misbehaving network peers: a port that accepts and never answers, and canned answers."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class BlackHole:
    """Accepts TCP connections and never sends a byte (a hung service or collector).

    It counts them, so a test can wait until a client has really connected.
    """

    # Hold each connection open (a hung peer); False: close it at once (a peer that drops it).
    holds = True

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(128)
        self.port = int(self._sock.getsockname()[1])
        self.connections = 0
        self._connected = threading.Condition()
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            if self.holds:
                self._held.append(conn)
            else:
                conn.close()
            with self._connected:
                self.connections += 1
                self._connected.notify_all()

    def wait_for_connections(self, count: int, timeout: float = 30.0) -> None:
        """Until ``count`` connections have come in; AssertionError after ``timeout``."""
        with self._connected:
            if not self._connected.wait_for(lambda: self.connections >= count, timeout):
                raise AssertionError(f"{self.connections} connections, not {count}, in {timeout}s")

    def close(self) -> None:
        self._sock.close()
        for conn in self._held:
            conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class DroppingPeer(BlackHole):
    """Accepts TCP connections and closes them at once: every request on them fails."""

    holds = False


class CannedServer:
    """Answers every request with one fixed status, content type, headers and body.

    ``received`` holds each request's headers, in order.
    """

    def __init__(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        received: list[dict[str, str]] = []
        self.received = received

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                received.append(dict(self.headers.items()))
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_PUT = do_POST = _answer  # noqa: N815 - http.server's naming

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class HtmlServer(CannedServer):
    """Answers every request with 200 and an HTML page: not what a JSON API returns."""

    def __init__(self) -> None:
        super().__init__(200, b"<html>an HTML error page from some proxy</html>", "text/html")
