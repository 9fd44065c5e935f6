"""A small HTTP/1.1 server for one ASGI app (``saqmigrate dashboard``), so the core install serves
the page without an ASGI server dependency. One request per connection, bodies up to 1 MiB; for
more, run the app under uvicorn/hypercorn or mount it in the project's Litestar app.

Bounded: the whole request (head and body) must arrive within ``READ_TIMEOUT`` seconds (a slow
client cannot hold a connection open), the response must be taken within ``WRITE_TIMEOUT``, at most
``MAX_CONNECTIONS`` connections may be sending their request at once, and at most ``MAX_CONNECTIONS``
requests are served at once (more are answered ``503`` at once and closed), plus ``RESERVED_WRITES``
for ``POST`` (the kill switch and the other writes).

Idle or slow connections never lock the page's kill switch out (attack 16 M3: 64 sockets sending half a
request head made every request, the kill included, answer 503): a connection still sending its request
holds no serving slot, and when ``MAX_CONNECTIONS`` of them are open the oldest is closed to make room (a
complete request arrives in one packet, so it is never the oldest one still reading)."""

from __future__ import annotations

import asyncio
from http import HTTPStatus
from typing import Any, Callable

MAX_HEADER = 64 * 1024
MAX_BODY = 1024 * 1024
READ_TIMEOUT = 10.0
WRITE_TIMEOUT = 30.0
MAX_CONNECTIONS = 64
RESERVED_WRITES = 8  # serving slots only a POST (a write: kill, pause, resume, set) may take

_BUSY_BODY = b'{"ok": false, "error": "too many connections now, try again"}'
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
    b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(_BUSY_BODY)
) + _BUSY_BODY


async def _read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip() or 0)
    if length < 0 or length > MAX_BODY:
        raise ValueError("body too large")
    body = await reader.readexactly(length) if length else b""
    return head, body


async def _busy(writer: asyncio.StreamWriter) -> None:
    try:
        writer.write(_BUSY)
        await asyncio.wait_for(writer.drain(), 5)
    except (ConnectionError, asyncio.TimeoutError):
        pass
    finally:
        writer.close()


async def _handle(
    app: Callable,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    read_timeout: float = READ_TIMEOUT,
    admit: Callable[[str], bool] | None = None,
) -> None:
    """One request; ``admit(method)`` (once it is read) may refuse to serve it (503)."""
    try:
        head, body = await asyncio.wait_for(_read_request(reader), read_timeout)
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError, ConnectionError):
        writer.close()
        return
    except ValueError:
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        try:
            await asyncio.wait_for(writer.drain(), WRITE_TIMEOUT)
        except (asyncio.TimeoutError, ConnectionError):
            pass
        writer.close()
        return
    try:
        lines = head.decode("latin-1").split("\r\n")
        method, target, _version = lines[0].split(" ", 2)
        headers = []
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers.append((name.strip().lower().encode("latin-1"), value.strip().encode("latin-1")))
    except ValueError:
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()
        return
    if admit is not None and not admit(method.upper()):
        await _busy(writer)
        return
    path, _, query = target.partition("?")
    peer = writer.get_extra_info("peername") or ("?", 0)
    sock = writer.get_extra_info("sockname") or ("?", 0)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method.upper(),
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode("latin-1"),
        "root_path": "",
        "headers": headers,
        "client": (peer[0], peer[1]),
        "server": (sock[0], sock[1]),
    }
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    out: list[bytes] = []

    async def send(msg: dict[str, Any]) -> None:
        if msg["type"] == "http.response.start":
            status = msg["status"]
            reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
            out.append(f"HTTP/1.1 {status} {reason}\r\n".encode())
            for k, v in msg.get("headers", []):
                out.append(k + b": " + v + b"\r\n")
            out.append(b"Connection: close\r\n\r\n")
        elif msg["type"] == "http.response.body" and method.upper() != "HEAD":
            out.append(msg.get("body", b""))

    try:
        await app(scope, receive, send)
        writer.write(b"".join(out))
        await asyncio.wait_for(writer.drain(), WRITE_TIMEOUT)
    except (ConnectionError, asyncio.TimeoutError):
        pass
    finally:
        writer.close()


async def serve(
    app: Callable,
    host: str,
    port: int,
    ready: Callable[[int], None] | None = None,
    stop: asyncio.Event | None = None,
    *,
    max_connections: int = MAX_CONNECTIONS,
    read_timeout: float = READ_TIMEOUT,
) -> None:
    """Serve ``app`` on host:port until ``stop`` is set (or for ever). ``ready(port)`` once listening."""
    reading: dict[asyncio.StreamWriter, None] = {}  # connections still sending their request, oldest first
    serving = 0

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal serving
        reading[writer] = None
        while len(reading) > max_connections:
            oldest = next(iter(reading))  # the slowest sender: its read fails and its connection is closed
            reading.pop(oldest)
            oldest.close()
        admitted = False

        def admit(method: str) -> bool:
            nonlocal serving, admitted
            reading.pop(writer, None)
            if serving >= max_connections + (RESERVED_WRITES if method == "POST" else 0):
                return False
            serving += 1
            admitted = True
            return True

        try:
            await _handle(app, reader, writer, read_timeout, admit)
        finally:
            reading.pop(writer, None)
            if admitted:
                serving -= 1

    server = await asyncio.start_server(connection, host, port, limit=MAX_HEADER)
    bound = server.sockets[0].getsockname()[1]
    if ready is not None:
        ready(bound)
    async with server:
        if stop is None:
            await server.serve_forever()
        else:
            await stop.wait()
