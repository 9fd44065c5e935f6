from saqmigrate.runtime.jobs import saq_job
from saqmigrate.runtime.task import TaskOptions


@saq_job("shop.orders.tasks.send_receipt", TaskOptions(), queue="celery")
def send_receipt(order_id, email=None):
    return f"receipt for {order_id} to {email}"


@saq_job(
    "shop.orders.tasks.charge_card",
    TaskOptions(retries=4, retry_delay=10, default_retry_delay=10),
    queue="celery",
    bind=True,
)
def charge_card(self, order_id, amount):
    try:
        return {"order": order_id, "charged": amount}
    except ConnectionError as exc:
        raise self.retry(exc=exc)
