"""Tasks in a package's __init__ (its SAQ twin is orders/tasks_saq.py)."""

from saqmigrate.runtime.jobs import saq_job
from saqmigrate.runtime.task import TaskOptions
from orders.models import Order


@saq_job("orders.tasks.send_receipt", TaskOptions(), queue="mail")
def send_receipt(number):
    return f"receipt {number} ({Order._meta.label})"


@saq_job("orders.tasks.refresh_feed", TaskOptions(), queue="feeds")
def refresh_feed(name):
    return f"feed {name}"
