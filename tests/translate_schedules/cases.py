"""Beat entries from real-project patterns (python.org-like and the hard cases) for the golden test."""

from saqmigrate.index.model import Param

P = Param

CASES = {
    # python.org-style CELERY_BEAT_SCHEDULE entries
    "pydotorg-every-6h-as-written": dict(kind="crontab", celery={"hour": "*/6"}),
    "pydotorg-nightly-3am": dict(kind="crontab", celery={"minute": 0, "hour": 3}),
    "pydotorg-every-5min-timedelta": dict(kind="interval", celery={"seconds": 300.0}),
    "pydotorg-quarter-hourly": dict(kind="crontab", celery={"minute": "*/15"}),
    "first-of-month-if-monday": dict(
        kind="crontab", celery={"minute": 0, "hour": 0, "day_of_month": "1", "day_of_week": "mon"}
    ),
    "first-monday-of-month": dict(
        kind="crontab", celery={"minute": 0, "hour": 9, "day_of_month": "1-7", "day_of_week": "monday"}
    ),
    "weekdays-9-to-17-hourly": dict(kind="crontab", celery={"minute": 0, "hour": "9-17", "day_of_week": "mon-fri"}),
    "weekend-wrap-fri-mon": dict(kind="crontab", celery={"minute": 30, "hour": 23, "day_of_week": "fri-mon"}),
    "full-names": dict(
        kind="crontab", celery={"minute": 0, "hour": 6, "day_of_week": "Sunday", "month_of_year": "january,july"}
    ),
    "list-and-set-fields": dict(kind="crontab", celery={"minute": [0, 20, 40], "hour": [8, 12, 16]}),
    "range-fields": dict(kind="crontab", celery={"minute": 5, "hour": list(range(0, 24, 3))}),
    "steps-everywhere": dict(
        kind="crontab",
        celery={"minute": "*/10", "hour": "*/2", "day_of_month": "*/3", "month_of_year": "*/2", "day_of_week": "*/2"},
    ),
    "leap-day": dict(kind="crontab", celery={"minute": 0, "hour": 12, "day_of_month": 29, "month_of_year": 2}),
    "from-string": dict(kind="crontab", celery={"from_string": "0 4 * * 1-5"}),
    "dow-7-invalid": dict(kind="crontab", celery={"minute": 0, "hour": 0, "day_of_week": 7}),
    "feb-30-invalid": dict(kind="crontab", celery={"minute": 0, "hour": 0, "day_of_month": 30, "month_of_year": 2}),
    "dynamic-field": dict(kind="crontab", celery={"minute": 0, "hour": {"dynamic": "settings.REPORT_HOUR"}}),
    "berlin-2-30-dst": dict(kind="crontab", celery={"minute": 30, "hour": 2}, timezone="Europe/Berlin"),
    "berlin-4am-safe": dict(kind="crontab", celery={"minute": 0, "hour": 4}, timezone="Europe/Berlin"),
    "interval-30s": dict(kind="interval", celery={"seconds": 30.0}),
    "interval-1h": dict(kind="interval", celery={"seconds": 3600.0}),
    "interval-1d": dict(kind="interval", celery={"seconds": 86400.0}),
    "interval-7min": dict(kind="interval", celery={"seconds": 420.0}),
    "interval-45s": dict(kind="interval", celery={"seconds": 45.0}),
    "interval-90min-relative": dict(kind="schedule", celery={"seconds": 5400.0}, relative=True),
    "interval-6h-berlin": dict(kind="interval", celery={"seconds": 21600.0}, timezone="Europe/Berlin"),
    "interval-dynamic": dict(kind="interval", celery={"dynamic": "timedelta(seconds=settings.POLL)"}),
    "solar": dict(kind="solar", celery={"expr": "solar('sunset', -37.81, 144.96)"}),
    "custom-class": dict(kind="custom", celery={"expr": "MySchedule(run_every=60)"}),
    "args-to-names": dict(
        kind="crontab",
        celery={"minute": 0, "hour": 7},
        args=[16, 16],
        kwargs={"z": 1},
        task_params=[P("x", "positional"), P("y", "positional"), P("z", "keyword_only", 0, True)],
    ),
    "args-bound-task": dict(
        kind="crontab",
        celery={"minute": 0, "hour": 7},
        args=["daily"],
        bind=True,
        task_params=[P("self", "positional"), P("period", "positional")],
    ),
    "args-unknown-signature": dict(kind="interval", celery={"seconds": 60.0}, args=[1, 2]),
    "args-too-many": dict(kind="interval", celery={"seconds": 60.0}, args=[1, 2], task_params=[P("a", "positional")]),
    "options-queue-expires-priority": dict(
        kind="crontab", celery={"minute": 0, "hour": "*/1"}, options={"queue": "feeds", "expires": 300, "priority": 9}
    ),
    "job-options-copied": dict(
        kind="crontab", celery={"minute": 0, "hour": 1}, job_options={"timeout": 900, "retries": 4, "ttl": 86400}
    ),
}
