from shop.orders.tasks import charge_card, send_receipt


def checkout(order_id, amount, email):
    charge_card.enqueue_with({"order_id": order_id, "amount": amount}, countdown=5)
    send_receipt.enqueue(order_id=order_id, email=email)


def resend(order_id, email):
    send_receipt.enqueue(order_id=order_id, email=email)
