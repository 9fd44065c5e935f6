"""Settings for the test suite: tasks run inline (Celery's eager mode)."""

from .base import *  # noqa: F403

SAQMIGRATE_EAGER = True
SAQMIGRATE_EAGER_PROPAGATES = True
