"""The runtime's numbers from the environment: a bad value is named once and the default used."""

from __future__ import annotations

import logging

import pytest

from saqmigrate.runtime.envvars import env_number


@pytest.mark.parametrize(
    ("raw", "expected"), [(None, 10.0), ("", 10.0), ("2.5", 2.5), ("0", 10.0), ("-1", 10.0), ("x", 10.0)]
)
def test_env_number(monkeypatch, caplog, raw, expected):
    if raw is None:
        monkeypatch.delenv("SAQMIGRATE_TEST_NUMBER", raising=False)
    else:
        monkeypatch.setenv("SAQMIGRATE_TEST_NUMBER", raw)
    with caplog.at_level(logging.WARNING, logger="saqmigrate.runtime"):
        assert env_number("SAQMIGRATE_TEST_NUMBER", 10.0) == expected
    warned = "SAQMIGRATE_TEST_NUMBER" in caplog.text
    assert warned == (raw not in (None, "", "2.5"))
