"""The requests -> httpx port sends the request target requests sends, byte for byte.

A local HTTP server records what arrives. For each URL (the attack's cases: a space, ``%zz``, a bare
``%``, ``| [ ] ^ { } \\ ` ``, escaped unreserved characters, non-ASCII, a fragment), ``requests.get``
and the port's own call -- the ``httpx.AsyncClient`` request built from the expression
``ports_http.request_source`` writes -- must deliver the same target (attack 42 #16: httpx sent
``%zz`` and ``|`` as they are, requests ``%25zz`` and ``%7C``).
"""

from __future__ import annotations

import ast
import asyncio
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import requests

from saqmigrate.transform import ports_http

CASES = [
    "a b/%zz/ä?x=1 2&y=|#frag",
    "?q=50% off",
    "?q=100%",
    "p|[]^{}\\`?a=|[]^{}`",
    "%41%7e/x?%41=%7e",
    "x?a=b&&c",
    "?a=%2F%2f",
    "é/ü?ö=ß",
    "?a+b=c+d",
    "x;y=z?q",
    "~user/a:b@c",
]


@pytest.fixture(scope="module")
def server():
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            seen.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", seen
    httpd.shutdown()


def _port_url_expression() -> str:
    call = ast.parse("requests.get(url, timeout=5)", mode="eval").body
    assert isinstance(call, ast.Call)
    spec, why = ports_http.spec(call, "requests.get")
    assert spec is not None, why
    source = ports_http.request_source(spec, ast.unparse)  # "<url expression>" (no other argument here)
    assert source.startswith("_requests.Request(") and source.endswith(".prepare().url"), source
    return source


@pytest.mark.parametrize("tail", CASES)
def test_the_port_sends_the_target_requests_sends(server, tail: str) -> None:
    base, seen = server
    url = base + tail
    seen.clear()
    requests.get(url, timeout=5)
    expected = seen[-1]
    target = eval(_port_url_expression(), {"_requests": requests, "url": url})  # noqa: S307 - our own expression

    async def port() -> None:
        async with httpx.AsyncClient(timeout=5) as client:
            await client.get(target)

    asyncio.run(port())
    assert seen[-1] == expected, (tail, expected, seen[-1])


def test_control_a_plain_httpx_call_differs(server) -> None:
    """Without the prepared URL, httpx sends another target: the test above can fail."""
    base, seen = server

    async def plain() -> None:
        async with httpx.AsyncClient(timeout=5) as client:
            await client.get(base + "a b/%zz?y=|")

    requests.get(base + "a b/%zz?y=|", timeout=5)
    asyncio.run(plain())
    assert seen[-2] != seen[-1], seen[-2:]
