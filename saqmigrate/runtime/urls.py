"""Where the Redis servers are, and how to print their URLs without the password.

Two servers may differ (docs/operations.md, "Which Redis"):

* the **flag store** (routing flags, audit): ``--redis-url``, else ``SAQMIGRATE_REDIS_URL``,
  else ``REDIS_URL`` (:func:`flag_store_url`);
* **SAQ's Redis** (the queues the SAQ workers listen on, and by default the dead-letter
  store, which lives in the worker queue's Redis): an explicit URL (``--saq-url``,
  ``Router(saq_url=...)``, ``dlq --redis-url``), else ``SAQ_REDIS_URL``, else ``REDIS_URL``,
  else ``redis://localhost:6379`` (:func:`saq_redis_url`). ``SAQMIGRATE_REDIS_URL`` is never
  SAQ's Redis: a router that enqueued there would orphan every job when the two differ.

The router, the generated workers (``runtime.worker.redis_url``), ``route``, ``dlq`` and
``check`` all resolve SAQ's Redis with :func:`saq_redis_url`.
"""

from __future__ import annotations

import os
import re
from typing import Mapping

from saqmigrate.errors import SaqmigrateError

DEFAULT_SAQ_URL = "redis://localhost:6379"
SAQ_ENV = ("SAQ_REDIS_URL", "REDIS_URL")
FLAG_STORE_ENV = ("SAQMIGRATE_REDIS_URL", "REDIS_URL")
URL_SCHEMES = ("redis", "rediss", "unix", "valkey", "valkeys")


def _env(names: tuple[str, ...], environ: Mapping[str, str] | None) -> str | None:
    env = os.environ if environ is None else environ
    for name in names:
        value = env.get(name)
        if value:
            return value
    return None


def flag_store_url(explicit: str | None = None, environ: Mapping[str, str] | None = None) -> str | None:
    """The flag store: ``explicit``, else ``SAQMIGRATE_REDIS_URL``, else ``REDIS_URL`` (None: not configured)."""
    return explicit or _env(FLAG_STORE_ENV, environ)


def saq_redis_url(explicit: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """SAQ's Redis: ``explicit``, else ``SAQ_REDIS_URL``, else ``REDIS_URL``, else localhost."""
    return explicit or _env(SAQ_ENV, environ) or DEFAULT_SAQ_URL


def saq_redis_source(explicit: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """Where :func:`saq_redis_url` took its answer from (for messages)."""
    if explicit:
        return "explicit"
    env = os.environ if environ is None else environ
    return next((n for n in SAQ_ENV if env.get(n)), "default")


class UrlError(SaqmigrateError, ValueError):
    """A value that is not a Redis URL; the message names where it came from and the expected form."""


def check_url(url: str, what: str = "--redis-url") -> str:
    """``url`` if it looks like a Redis URL, else :class:`UrlError` (a ValueError) with a one-line message."""
    text = str(url or "").strip()
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme not in URL_SCHEMES:
        raise UrlError(
            f"{what} {redact(text)!r} is not a Redis URL: use redis://[:password@]host[:port][/db] "
            "(or rediss://, unix://)"
        )
    try:
        from redis.connection import parse_url

        parse_url(text)
    except ImportError:  # pragma: no cover - redis is a runtime dependency
        pass
    except Exception as exc:  # noqa: BLE001 - redis-py raises ValueError / TypeError on odd URLs
        raise UrlError(f"{what} {redact(text)!r} is not a valid Redis URL ({exc})") from None
    return text


# scheme://userinfo@ ... ; userinfo may hold unencoded '@' (we take the last '@' before the
# path), never whitespace, '/', '?' or '#'
_USERINFO = re.compile(
    r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^\s/?#]*)@(?=[^\s@/?#]*(?:[/?#\s\"']|$))"
)
_QUERY_SECRET = re.compile(r"(?P<key>[?&;](?:password|passwd|pass|pwd|secret|token|auth)=)[^&#\s;\"']*", re.I)


def _mask_userinfo(m: re.Match) -> str:
    userinfo = m.group("userinfo")
    if ":" in userinfo:
        user = userinfo.split(":", 1)[0]
        return f"{m.group('scheme')}{user}:***@"
    return f"{m.group('scheme')}***@"


def redact(text: object) -> str:
    """``text`` with every password in a URL masked.

    ``redis://:PW@host`` -> ``redis://:***@host``; ``redis://user:PW@host`` ->
    ``redis://user:***@host``; ``redis://PW@host`` -> ``redis://***@host``; a password with an
    unencoded ``@`` is masked whole; ``?password=PW`` (also ``&password=``, ``pass``, ``token``,
    ``secret``, ``auth``) -> ``?password=***``. Works on a bare URL or on any text holding
    URLs (argv, error messages). Never raises.
    """
    try:
        s = text if isinstance(text, str) else str(text)
    except Exception:  # noqa: BLE001
        return "<unprintable>"
    s = _USERINFO.sub(_mask_userinfo, s)
    return _QUERY_SECRET.sub(lambda m: f"{m.group('key')}***", s)


def redact_argv(argv: list[str] | tuple[str, ...]) -> list[str]:
    """argv with URL passwords masked, and the value after ``--password``/``-a`` hidden."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        arg = str(arg)
        if hide_next:
            out.append("***")
            hide_next = False
            continue
        low = arg.lower()
        if low in ("--password", "--pass", "-a", "--requirepass"):
            out.append(arg)
            hide_next = True
            continue
        if low.startswith(("--password=", "--pass=")):
            out.append(arg.split("=", 1)[0] + "=***")
            continue
        out.append(redact(arg))
    return out
