"""saqmigrate: move a Python app from Celery to SAQ without losing a task."""

__version__ = "0.1.0"
