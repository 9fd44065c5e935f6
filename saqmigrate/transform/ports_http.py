"""``requests.get``/``requests.post`` -> ``httpx.AsyncClient``, only where the two are the same.

Checked against requests 2.32-2.34 (``api.py``, ``sessions.py``, ``models.py``, ``utils.py``) and
httpx 0.28 (``_client.py``, ``_config.py``, ``_content.py``, ``_models.py``); docs/native.md lists the
facts. What differs by default, and what the port writes so it does not:

* **timeout**: requests waits forever unless given one; httpx's default is 5 s. The client gets the
  call's own ``timeout`` (a number or None), else ``timeout=None``. A (connect, read) tuple is refused.
* **redirects**: ``requests.get``/``post`` follow redirects (up to 30, ``DEFAULT_REDIRECT_LIMIT``); httpx
  follows none unless told, and at most 20. The client gets ``follow_redirects=<allow_redirects or
  True>, max_redirects=30``.
* **User-Agent**: requests sends ``python-requests/<version>``, httpx ``python-httpx/<version>``: the
  client sends ``requests.utils.default_user_agent()``. Accept, Accept-Encoding (gzip, deflate, and br /
  zstd when their packages are installed) and Connection are the same.
* **json=**: requests serializes with ``requests.compat.json.dumps(obj, allow_nan=False)`` (", " and
  ": " separators, ASCII) and adds ``Content-Type: application/json`` unless the headers have one;
  httpx's ``json=`` is compact UTF-8. The port sends requests' bytes as ``content=`` with that header.
* **the URL**: requests re-quotes it (``requote_uri``: ``%zz`` -> ``%25zz``, ``|`` -> ``%7C``, a bare
  ``%`` -> ``%25``, ``%41`` -> ``A``), httpx leaves those as they are: the port sends
  ``requests.Request("GET", url).prepare().url``, which httpx sends byte for byte (its invalid URLs raise
  requests' own ``MissingSchema`` / ``InvalidURL``, as the original call did).
* **headers**: a request header set to None removes it in requests: only literal string values are ported.
* **the client is built in a thread** (``await asyncio.to_thread(httpx.AsyncClient, ...)``): its
  constructor creates the SSL context and loads the CA bundle (``ssl.create_default_context``,
  ``load_verify_locations``: 30-80 ms measured), which would stall the event loop; and httpx, httpcore
  and anyio's asyncio backend are imported with the twin module when the worker starts, not by the
  first request (httpx imports them lazily: 50-100 ms measured on the loop).

Refused (the call stays blocking): ``params=`` (requests drops None values and writes True as
"True", httpx writes "" and "true"), ``data=`` (same for forms), ``auth=`` (latin-1 vs UTF-8),
``files``, ``cookies``, ``verify``, ``cert``, ``proxies``, ``stream``, ``hooks``, any ``**kwargs``; a
response used other than by ``status_code``, ``content`` and ``headers`` reads (``.text`` and
``.json()`` decode differently when the charset is missing or wrong; ``raise_for_status()`` raises
for 3xx in httpx; ``bool(r)`` is ``r.ok`` only in requests); a call inside ``try`` or a task whose
``autoretry_for`` is narrower than ``Exception`` (httpx raises ``httpx.HTTPError`` subclasses where
requests raises ``requests.RequestException`` ones).
"""

from __future__ import annotations

import ast

PORTABLE = {"requests.get", "requests.post"}
#: imported with the twin module (at worker start): httpx imports httpcore when a client is built and
#: anyio's asyncio backend on the first request, which would stall the event loop of the first job
WARM_IMPORTS = [
    "import httpcore  # noqa: F401 - imported by httpx on first use",
    "import anyio._backends._asyncio  # noqa: F401 - imported by anyio on the first request",
]
RESPONSE_DATA = {"status_code", "content"}
MAX_REDIRECTS = 30  # requests.models.DEFAULT_REDIRECT_LIMIT


def why_not_attr(attr: str) -> str:
    reasons = {
        "text": "response.text: requests guesses the charset (ISO-8859-1 for text/*), httpx decodes UTF-8",
        "json": "response.json(): requests decodes the text first (errors replaced), httpx parses the bytes",
        "raise_for_status": "raise_for_status(): httpx also raises for 3xx, with other exception classes",
        "ok": "response.ok exists only in requests",
    }
    return reasons.get(attr, f"response.{attr} is not proven the same in requests and httpx")


def spec(node: ast.Call, ref: str) -> tuple[dict | None, str]:
    """The options of a portable call, or (None, why it is not ported)."""
    method = ref.rsplit(".", 1)[1]
    if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
        return None, "*args/**kwargs"
    kw = {k.arg: k.value for k in node.keywords}
    url = node.args[0] if node.args else kw.pop("url", None)
    if url is None or len(node.args) > 1:
        return None, "positional params/data"
    kw.pop("url", None)
    out: dict = {"method": method, "url": url, "timeout": None, "follow": True, "headers": [], "json": None}
    for name, value in kw.items():
        if name == "timeout":
            if not (isinstance(value, ast.Constant) and (value.value is None or type(value.value) in (int, float))):
                return None, "timeout= other than a number or None (a (connect, read) tuple differs)"
            out["timeout"] = value.value
        elif name == "allow_redirects":
            if not (isinstance(value, ast.Constant) and isinstance(value.value, bool)):
                return None, "allow_redirects= other than True/False"
            out["follow"] = value.value
        elif name == "headers":
            if not isinstance(value, ast.Dict) or any(
                k is None or not (isinstance(k, ast.Constant) and isinstance(k.value, str)) for k in value.keys
            ):
                return None, "headers= other than a dict literal with string keys"
            if not all(
                isinstance(v, ast.JoinedStr) or isinstance(v, ast.Constant) and isinstance(v.value, str)
                for v in value.values
            ):
                return None, "a header value that may be None (requests then drops the header)"
            out["headers"] = list(zip([k.value for k in value.keys], value.values))  # type: ignore[union-attr]
        elif name == "json" and method == "post":
            if not isinstance(value, (ast.Dict, ast.List, ast.DictComp, ast.ListComp)):
                return None, "json= other than a dict or list literal (json=None sends no body in requests)"
            out["json"] = value
        else:
            return None, f"{name}= has no exact httpx equivalent"
    return out, ""


def client_source(spec: dict) -> str:
    """The ``httpx.AsyncClient(...)`` arguments that make it behave like ``requests.<method>``."""
    return (
        f'headers={{"User-Agent": _requests.utils.default_user_agent()}}, '
        f"follow_redirects={spec['follow']!r}, max_redirects={MAX_REDIRECTS}, timeout={spec['timeout']!r}"
    )


def request_source(spec: dict, code_of) -> str:
    """The ``client.<method>(...)`` arguments; ``code_of(node)`` gives an expression's source."""
    # the URL requests would send: it percent-encodes what httpx leaves (%zz, |, {, a bare %) and decodes
    # escaped unreserved characters (%41 -> A); httpx sends a URL prepared so unchanged (checked per case)
    parts = [f'_requests.Request("GET", {code_of(spec["url"])}).prepare().url']
    headers = [(k, code_of(v)) for k, v in spec["headers"]]
    if spec["json"] is not None:
        parts.append(f'content=_requests.compat.json.dumps({code_of(spec["json"])}, allow_nan=False).encode("utf-8")')
        if not any(k.lower() == "content-type" for k, _ in headers):
            headers.append(("Content-Type", '"application/json"'))
    if headers:
        parts.append("headers={" + ", ".join(f"{k!r}: {v}" for k, v in headers) + "}")
    return ", ".join(parts)
