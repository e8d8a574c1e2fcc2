"""Serving the API: uvicorn in a thread of the D-TA's process, next to its MQTT link.

``HttpServer(app, "127.0.0.1:8080")`` binds the socket at once (port 0 picks a free one: read
``.port``), ``start()`` serves it on a thread, ``stop()`` shuts down gracefully. Given a
certificate and key (PEM) it serves HTTPS itself; behind a reverse proxy (nginx, Caddy) it serves
plain HTTP on loopback and the proxy terminates TLS (docs/http.md).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import threading
from pathlib import Path

import anyio.to_thread
import uvicorn

from dta.errors import ConfigError, ServiceError

log = logging.getLogger("dta.http")

# Seconds a stop waits for requests in flight before closing their connections.
SHUTDOWN_GRACE = 5.0
# Seconds start() waits for uvicorn to be serving.
STARTUP_TIMEOUT = 10.0
# Connections kept open per client while idle (the share client reuses one per D-TA).
KEEPALIVE = 30
# Threads running the handlers (anyio's default is 40). Share requests block on the log's group
# commit (fsync), and concurrent ones share it: enough threads to fill a commit, few enough
# that GIL hand-offs between them stay cheap (bench/http.py measured 16..100).
THREADS = 32


def parse_listen(text: str) -> tuple[str, int]:
    """HOST:PORT (IPv6 in brackets) -> (host, port); ConfigError naming the option."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"--http {text[:80]!r}: give HOST:PORT, e.g. 127.0.0.1:8080")
    return host, int(port)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ServiceError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(1024)
    return sock


def _tls(cert: Path | None, key: Path | None) -> dict:
    if (cert is None) != (key is None):
        raise ConfigError("--tls-cert and --tls-key go together")
    if cert is None:
        return {}
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"--tls-cert {cert} / --tls-key {key}: not a usable PEM certificate "
                          f"and key ({exc})") from None
    return {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}


class HttpServer:
    def __init__(self, app, listen: str, *, tls_cert: Path | None = None,
                 tls_key: Path | None = None, threads: int = THREADS):
        host, port = parse_listen(listen)
        tls = _tls(tls_cert, tls_key)
        self.scheme = "https" if tls else "http"
        self._sock = _bind(host, port)
        self.host, self.port = host, self._sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                                timeout_keep_alive=KEEPALIVE,
                                timeout_graceful_shutdown=SHUTDOWN_GRACE, **tls)
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None
        self.threads = threads

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}/"

    def _serve(self) -> None:
        async def main():
            anyio.to_thread.current_default_thread_limiter().total_tokens = self.threads
            await self._server.serve(sockets=[self._sock])

        asyncio.run(main())

    def start(self) -> "HttpServer":
        self._thread = threading.Thread(target=self._serve, daemon=True, name="dta-http")
        self._thread.start()
        pause = threading.Event()
        for _ in range(int(STARTUP_TIMEOUT / 0.01)):
            if self._server.started or not self._thread.is_alive():
                break
            pause.wait(0.01)  # uvicorn sets `started` and has no event to wait on
        if not self._server.started:
            raise ServiceError(f"the HTTP API did not start on {self.url}")
        log.info("HTTP API on %s", self.url)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(SHUTDOWN_GRACE + 5)
            self._thread = None
        self._sock.close()

    def __enter__(self) -> "HttpServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


__all__ = ["HttpServer", "parse_listen"]
