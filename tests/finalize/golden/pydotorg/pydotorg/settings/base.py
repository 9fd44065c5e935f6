"""Base settings for the python.org fixture project."""

import os

DEBUG = False
SECRET_KEY = os.environ.get("SECRET_KEY", "fixture-not-secret")

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "downloads",
    "events",
    "blogs",
    "jobs",
    "cms",
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("DATABASE_NAME", "python.org"),
    }
}

### Locale settings

TIME_ZONE = "UTC"
USE_TZ = True

### Celery

REDIS_URL = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
