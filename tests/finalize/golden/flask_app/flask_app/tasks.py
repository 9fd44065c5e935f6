import time

from celery import shared_task
from flask import current_app
from saqmigrate.runtime.jobs import saq_job
from saqmigrate.runtime.task import TaskOptions


@saq_job("flask_app.tasks.add", TaskOptions(), queue="celery")
def add(a: int, b: int) -> int:
    return a + b


@shared_task()
def block() -> None:
    time.sleep(5)


@saq_job("flask_app.tasks.process", TaskOptions(), queue="celery", bind=True)
def process(self, total: int) -> object:
    for i in range(total):
        self.update_state(state="PROGRESS", meta={"current": i + 1, "total": total})
        time.sleep(1)

    return {"current": total, "total": total}


@saq_job("flask_app.tasks.greet", TaskOptions(), queue="celery")
def greet(name: str) -> str:
    # needs the Flask app context: FlaskTask.__call__ provides it, on Celery and on SAQ
    return f"{current_app.config['GREETING']}, {name}"
