"""What still waits on Celery's Redis broker, per task: the drain check of ``route drain-status`` and of
``saqmigrate finalize``'s gate (one reading of kombu's Redis layout, no Celery import)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from saqmigrate.errors import SaqmigrateError


class UnsupportedBroker(SaqmigrateError, ValueError):
    """A Celery broker whose waiting messages this reading cannot count (not Redis)."""


@dataclass
class Waiting:
    queued: int = 0  # messages in a queue list (ETA tasks a worker has not fetched included)
    unacked: int = 0  # fetched by a worker, not acknowledged (ETA tasks waiting in a worker included)
    max_eta: str | None = None  # the latest ETA among them (ISO 8601, as the message carries it)


def celery_waiting(broker_url: str, names: set[str] | None = None, *, timeout: float = 2.0) -> dict[str, Waiting]:
    """Task name -> its messages on the broker (``names``: only these). Raises redis errors as they are,
    and :class:`UnsupportedBroker` for a broker that is not Redis (RabbitMQ keeps a worker's unacknowledged
    and ETA messages where AMQP cannot list them per task)."""
    from saqmigrate.runtime.flags import make_client
    from saqmigrate.runtime.urls import URL_SCHEMES, redact

    scheme = broker_url.split("://", 1)[0].lower() if "://" in broker_url else ""
    if scheme not in URL_SCHEMES:
        raise UnsupportedBroker(
            f"Celery broker {redact(broker_url)}: the drain check reads Celery's Redis broker only "
            f"({scheme or 'no'}:// is not Redis). On RabbitMQ check by hand that nothing waits: "
            "`rabbitmqctl list_queues name messages_ready messages_unacknowledged` all 0 and "
            "`celery -A <app> inspect scheduled` / `inspect reserved` empty"
        )

    r = make_client(broker_url, timeout)
    payloads: list[tuple[str, bytes | str]] = []
    for key in r.scan_iter(count=1000, _type="list"):
        if key.startswith(("_kombu", "saq:", "unacked")):
            continue
        payloads += [("queued", m) for m in r.lrange(key, 0, -1)]
    payloads += [("unacked", m) for m in r.hvals("unacked")]
    out: dict[str, Waiting] = {}
    for kind, raw in payloads:
        try:
            msg = json.loads(raw)
            if isinstance(msg, list):  # unacked: [message, exchange, routing_key]
                msg = msg[0]
            headers = msg.get("headers") or {}
        except (ValueError, AttributeError, IndexError, TypeError):
            continue
        name = headers.get("task")
        if not isinstance(name, str) or (names is not None and name not in names):
            continue
        w = out.setdefault(name, Waiting())
        setattr(w, kind, getattr(w, kind) + 1)
        eta = headers.get("eta")
        if eta and (w.max_eta is None or eta > w.max_eta):
            w.max_eta = eta
    return out
