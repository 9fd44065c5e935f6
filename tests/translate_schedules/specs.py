"""Random Celery crontab specs in every form Celery accepts (and some it rejects)."""

from __future__ import annotations

import random

from hypothesis import strategies as st

DOW_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
DOW_FULL = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]
MON_NAMES = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
MON_FULL = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]
# field -> (min, max)
RANGES = {"minute": (0, 59), "hour": (0, 23), "day_of_week": (0, 6), "day_of_month": (1, 31), "month_of_year": (1, 12)}


def _name(field: str, v: int, rnd: random.Random) -> str | int:
    if field == "day_of_week" and rnd.random() < 0.5:
        word = (DOW_FULL if rnd.random() < 0.4 else DOW_NAMES)[v]
        return word.capitalize() if rnd.random() < 0.3 else word
    if field == "month_of_year" and rnd.random() < 0.5:
        word = (MON_FULL if rnd.random() < 0.4 else MON_NAMES)[v - 1]
        return word.upper() if rnd.random() < 0.2 else word
    return v


def field_value(field: str, rnd: random.Random, allow_invalid: bool = False):
    lo, hi = RANGES[field]
    form = rnd.choice(
        ["int", "star", "step", "range", "range_step", "list_str", "list", "set", "wrap", "single_str", "step_from"]
    )
    if allow_invalid and rnd.random() < 0.03:
        return hi + 1  # e.g. day_of_week=7: Celery raises ValueError
    if form == "int":
        return rnd.randint(lo, hi)
    if form == "star":
        return "*"
    if form == "step":
        return f"*/{rnd.randint(1, max(1, (hi - lo + 1) // 2))}"
    if form == "step_from":
        a = rnd.randint(lo, hi)
        return f"{a}-{hi}/{rnd.randint(1, 7)}"
    if form in ("range", "range_step", "wrap"):
        a, b = sorted(rnd.sample(range(lo, hi + 1), 2))
        if form == "wrap":
            a, b = b, a  # Celery wraps around the field maximum
        text = f"{_name(field, a, rnd)}-{_name(field, b, rnd)}"
        if form == "range_step":
            text += f"/{rnd.randint(1, 4)}"
        return text
    if form == "single_str":
        return str(_name(field, rnd.randint(lo, hi), rnd))
    vals = rnd.sample(range(lo, hi + 1), rnd.randint(1, min(5, hi - lo + 1)))
    if form == "list_str":
        return ",".join(str(_name(field, v, rnd)) for v in vals)
    return sorted(vals)  # list or set: the scanner reports both as a list


def random_spec(rnd: random.Random, allow_invalid: bool = False) -> dict:
    if rnd.random() < 0.08:
        parts = []
        for f in ("minute", "hour", "day_of_month", "month_of_year", "day_of_week"):
            v = field_value(f, rnd) if rnd.random() < 0.5 else "*"
            parts.append(",".join(map(str, v)) if isinstance(v, list) else str(v))
        return {"from_string": " ".join(parts)}
    spec = {}
    for f in RANGES:
        r = rnd.random()
        if r < 0.45:
            continue  # omitted → Celery's '*'
        spec[f] = field_value(f, rnd, allow_invalid)
    return spec


@st.composite
def crontab_specs(draw, allow_invalid: bool = False):
    seed = draw(st.integers(min_value=0, max_value=2**32 - 1))
    return random_spec(random.Random(seed), allow_invalid)
