"""Celery-compatible JSON: kombu's wire format, round trips, and a real SAQ queue."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kombu.utils import json as kombu_json
from saq import Job, Status

from saqmigrate.runtime.serializer import dump, load

from .conftest import make_queue, run_burst

aware_tz = st.one_of(
    st.just(timezone.utc),
    st.builds(lambda m: timezone(timedelta(minutes=m)), st.integers(-14 * 60, 14 * 60)),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63),
    st.text(max_size=20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.datetimes(),  # naive
    st.datetimes(timezones=aware_tz),
    st.dates(),
    st.times(),
    st.times(timezones=aware_tz),
    st.decimals(allow_nan=False, allow_infinity=False, places=4),
    st.uuids(),
    st.binary(max_size=16),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def _typed_equal(a, b) -> bool:
    """Equal values and equal types all the way down (True == 1 does not count)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_typed_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_typed_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, (datetime, time)):
        return a == b and a.utcoffset() == b.utcoffset() and a.isoformat() == b.isoformat()
    if isinstance(a, Decimal):
        return str(a) == str(b)
    return a == b


@settings(max_examples=150, deadline=None)
@given(values)
def test_round_trip_and_kombu_interop(v):
    ours = dump(v)
    assert _typed_equal(load(ours), v)
    # the same payload means the same thing on both backends, both directions
    assert _typed_equal(kombu_json.loads(ours), v)
    assert _typed_equal(load(kombu_json.dumps(v)), v)
    assert json.loads(ours) == json.loads(kombu_json.dumps(v))  # identical JSON documents


def test_same_markers_as_kombu():
    u = uuid.UUID("12345678-1234-5678-1234-567812345678")
    v = {
        "dt": datetime(2025, 1, 2, 3, 4, 5, 6),
        "d": date(2025, 1, 2),
        "t": time(1, 2, 3),
        "dec": Decimal("1.10"),
        "u": u,
        "b": b"ok",
        "bin": b"\xff",
    }
    assert json.loads(dump(v)) == {
        "dt": {"__type__": "datetime", "__value__": "2025-01-02T03:04:05.000006"},
        "d": {"__type__": "date", "__value__": "2025-01-02"},
        "t": {"__type__": "time", "__value__": "01:02:03"},
        "dec": {"__type__": "decimal", "__value__": "1.10"},
        "u": {"__type__": "uuid", "__value__": {"hex": u.hex}},
        "b": {"__type__": "bytes", "__value__": "ok"},
        "bin": {"__type__": "base64", "__value__": "/w=="},
    }


def test_plain_json_in_plain_json_out():
    v = {"a": [1, 2.5, "x", None, True], "b": {"c": "d"}}
    assert dump(v) == json.dumps(v, separators=(",", ":"))
    assert load(dump(v)) == v and load(dump(v).encode()) == v


def test_zoneinfo_becomes_fixed_offset_like_kombu():
    dt = datetime(2025, 7, 1, 9, 30, tzinfo=ZoneInfo("Europe/Paris"))
    back = load(dump(dt))
    assert back == dt and back.utcoffset() == timedelta(hours=2)
    assert back == kombu_json.loads(kombu_json.dumps(dt))


def test_rejects_what_kombu_rejects():
    with pytest.raises(TypeError, match="set"):
        dump({1, 2})
    with pytest.raises(TypeError):
        kombu_json.dumps({1, 2})
    with pytest.raises(ValueError, match="unsupported"):
        load('{"__type__": "pickle", "__value__": "x"}')


def test_json_reducer_is_used():
    class Money:
        def __json__(self):
            return {"amount": "1.00", "currency": "EUR"}

    assert load(dump({"m": Money()})) == {"m": {"amount": "1.00", "currency": "EUR"}}


def test_saq_job_dict_round_trips():
    job = Job("f", kwargs={"when": datetime(2025, 1, 1, tzinfo=timezone.utc)}, key="k", meta={"a": 1})
    back = load(dump(job.to_dict()))
    assert back["kwargs"]["when"] == datetime(2025, 1, 1, tzinfo=timezone.utc)
    assert back["key"] == "k" and back["meta"] == {"a": 1} and back["function"] == "f"
    assert Job(**back).kwargs == job.kwargs


RECEIVED: dict[str, dict] = {}


async def echo(ctx, **kwargs):
    RECEIVED[ctx["job"].key] = kwargs
    return kwargs


CARRIED = {
    "aware": datetime(2025, 3, 30, 1, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5))),
    "utc": datetime(2025, 1, 31, 23, 0, tzinfo=timezone.utc),
    "naive": datetime(2025, 1, 31, 23, 0),
    "date": date(2024, 2, 29),
    "time": time(23, 59, 1, 5),
    "time_tz": time(8, 0, tzinfo=timezone.utc),
    "money": Decimal("-1234567890.123456789"),
    "ref": uuid.UUID("0b6a2bc4-3e5f-4c4c-9a51-0dd3c6d8c1a2"),
    "blob": b"\x00\x01\xfe\xff",
    "text_bytes": "héllo".encode(),
    "nested": {"list": [Decimal("0.1"), {"at": date(2025, 1, 1)}], "n": 1, "s": "plain"},
}


@pytest.mark.slow
@pytest.mark.usefixtures("cleanup")
def test_every_carried_type_round_trips_through_a_real_queue(redis_url, unique_name):
    async def main():
        queue = make_queue(redis_url, unique_name)
        try:
            job = await queue.enqueue(Job("echo", kwargs=CARRIED))
            # a Celery producer's payload (kombu JSON) decoded by the SAQ side
            assert _typed_equal(load(kombu_json.dumps(CARRIED)), CARRIED)
            await run_burst(queue, [("echo", echo)], dequeue_timeout=0.5)
            got = RECEIVED[job.key]
            assert _typed_equal(got, CARRIED), got
            done = await queue.job(job.key)
            assert done.status == Status.COMPLETE
            assert _typed_equal(done.result, CARRIED)  # results carry the types back too
            # the raw Redis payload uses kombu's markers
            raw = await queue.redis.get(job.id)
            assert b'"__type__":"decimal"' in raw and kombu_json.loads(raw)["kwargs"]["money"] == CARRIED["money"]
        finally:
            await queue.disconnect()

    asyncio.run(main())
