from celery.result import AsyncResult
from flask import Blueprint, request

from . import tasks

bp = Blueprint("tasks", __name__, url_prefix="/tasks")


@bp.get("/result/<id>")
def result(id: str) -> dict[str, object]:
    result = AsyncResult(id)
    ready = result.ready()
    return {
        "ready": ready,
        "successful": result.successful() if ready else None,
        "value": result.get() if ready else result.result,
    }


@bp.get("/state/<id>")
def state(id: str) -> dict[str, object]:
    result = AsyncResult(id)
    state, value = result.state, result.result  # the value may be newer than the state: it is read after
    return {
        "state": state,
        "ready": state in ("SUCCESS", "FAILURE", "REVOKED"),
        "value": repr(value) if isinstance(value, BaseException) else value,
    }


@bp.post("/add")
def add() -> dict[str, object]:
    a = request.form.get("a", type=int)
    b = request.form.get("b", type=int)
    result = tasks.add.enqueue(a=a, b=b)
    return {"result_id": result.id}


@bp.post("/block")
def block() -> dict[str, object]:
    result = tasks.block.delay()
    return {"result_id": result.id}


@bp.post("/process")
def process() -> dict[str, object]:
    result = tasks.process.enqueue(total=request.form.get("total", type=int))
    return {"result_id": result.id}


@bp.post("/greet")
def greet() -> dict[str, object]:
    result = tasks.greet.enqueue(name=request.form["name"])
    return {"result_id": result.id}
