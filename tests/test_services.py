"""The fresh-laptop path: no REDIS_URL and nothing on 6379 means a real embedded Valkey server."""

import redis

from saqmigrate.services import ensure_redis


def test_embedded_server_is_real_and_stops(monkeypatch) -> None:
    monkeypatch.setenv("SAQMIGRATE_EMBEDDED", "1")
    svc = ensure_redis()
    try:
        assert svc.embedded is not None and not svc.url.endswith(":6379/0")
        client = redis.Redis.from_url(svc.url)
        assert client.ping() is True
        client.set("k", "v")
        assert client.get("k") == b"v"
    finally:
        svc.stop()
    try:
        redis.Redis.from_url(svc.url, socket_connect_timeout=0.5).ping()
        raise AssertionError("the embedded server still answers after stop()")
    except redis.ConnectionError:
        pass


def test_explicit_url_wins(monkeypatch) -> None:
    monkeypatch.delenv("SAQMIGRATE_EMBEDDED", raising=False)
    monkeypatch.setenv("REDIS_URL", "redis://example.invalid:1/0")
    assert ensure_redis().url == "redis://example.invalid:1/0"
