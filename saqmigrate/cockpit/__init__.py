"""The migration cockpit: Celery vs SAQ per task (analysis.py), ramp plans advanced on evidence
(ramp.py, autopilot.py) and one web page (dashboard.py). Reads what ``saqmigrate.runtime.outcomes``
records; the runtime never imports this package."""
