"""Unit tests of the pure Celery task options → SAQ job options mapping."""

from __future__ import annotations

import json

import pytest
from saq import CronJob
from saq.job import Job

from saqmigrate import rules
from saqmigrate.runtime.task_options import UNBOUNDED_ATTEMPTS, TaskOptions
from saqmigrate.translate.options import SEVERITY, exception_names, translate_task_options


def t(options=None, *, self_retry=False, defaults=None, module=None):
    return translate_task_options(options or {}, uses_self_retry=self_retry, defaults=defaults, module=module)


def D(src):
    return {"dynamic": src}


def codes(result):
    return [n.code for n in result.notes]


# --- retries -------------------------------------------------------------------------------


def test_plain_task_defaults():
    r = t()
    assert r.job_kwargs() == {
        "retries": 1,
        "retry_delay": 180,
        "retry_backoff": False,
        "timeout": 0,
        "heartbeat": 60,
        "ttl": 86400,
    }
    assert codes(r) == [] and r.migratability == "auto" and not r.uses_retry
    assert r.task == TaskOptions() and r.to_source() == "TaskOptions()"


@pytest.mark.parametrize("max_retries", [0, 1, 5, 10])
def test_max_retries_without_any_retry_is_one_attempt(max_retries):
    assert t({"max_retries": max_retries}).retries == 1


@pytest.mark.parametrize("max_retries, attempts", [(None, UNBOUNDED_ATTEMPTS), (0, 1), (2, 3), (3, 4), (7, 8)])
def test_self_retry_attempts(max_retries, attempts):
    opts = {} if max_retries == 3 else {"max_retries": max_retries}
    r = t(opts, self_retry=True)
    assert r.retries == attempts and r.uses_retry
    assert ("SM150" in codes(r)) == (max_retries is None)
    assert r.migratability == ("assisted" if max_retries is None else "auto")


def test_default_max_retries_is_three():
    assert t(self_retry=True).retries == 4
    assert t({"autoretry_for": ["IOError"]}).retries == 4


@pytest.mark.parametrize(
    "value, names",
    [
        (D("(IOError, requests.RequestException)"), ("IOError", "requests.RequestException")),
        (D("(IOError,)"), ("IOError",)),
        (D("IOError"), ("IOError",)),
        (D("[a.b.C, D]"), ("a.b.C", "D")),
        (["IOError", "requests.exceptions.Timeout"], ("IOError", "requests.exceptions.Timeout")),
        ("KeyError", ("KeyError",)),
        ((), ()),
    ],
)
def test_exception_names(value, names):
    assert exception_names(value) == names


def test_autoretry_for_dynamic_tuple():
    r = t({"autoretry_for": D("(IOError, requests.RequestException)"), "max_retries": 5}, module="proj.tasks")
    assert r.retries == 6 and r.task.autoretry_for == ("IOError", "requests.RequestException")
    assert r.task.module == "proj.tasks"
    assert r.wrapper["autoretry_for"] == ["IOError", "requests.RequestException"]


def test_autoretry_for_unresolvable_is_flagged_but_still_retries():
    r = t({"autoretry_for": D("get_excs()"), "max_retries": 2})
    assert "SM157" in codes(r) and r.migratability == "assisted"
    assert r.uses_retry and r.retries == 3 and r.task.autoretry_for == ()


def test_dont_autoretry_for():
    r = t({"autoretry_for": D("(Exception,)"), "dont_autoretry_for": D("(KeyError, ValueError)")})
    assert r.task.dont_autoretry_for == ("KeyError", "ValueError")


def test_retry_kwargs_countdown_and_max_retries():
    r = t({"autoretry_for": ["IOError"], "retry_kwargs": {"countdown": 5, "max_retries": 7}})
    assert (r.retries, r.retry_delay, r.retry_backoff) == (8, 5, False)
    assert r.task.retry_kwargs == {"countdown": 5, "max_retries": 7}
    assert r.task.default_retry_delay == 180  # self.retry() without countdown still uses it


def test_retry_kwargs_max_retries_none_means_task_default():
    r = t({"autoretry_for": ["IOError"], "max_retries": 2, "retry_kwargs": {"max_retries": None}})
    assert r.retries == 3 and "max_retries" not in r.task.retry_kwargs and "SM150" not in codes(r)


def test_retry_kwargs_dynamic_values():
    r = t({"autoretry_for": ["IOError"], "retry_kwargs": D("{'countdown': 60 * 2, 'max_retries': N}")})
    assert r.retry_delay == 120 and "SM157" in codes(r)


def test_self_retry_and_autoretry_take_the_larger_limit():
    r = t({"autoretry_for": ["IOError"], "max_retries": 2, "retry_kwargs": {"max_retries": 6}}, self_retry=True)
    assert r.retries == 7


def test_retry_kwargs_countdown_ignored_without_autoretry():
    assert t({"retry_kwargs": {"countdown": 5}}, self_retry=True).retry_delay == 180


@pytest.mark.parametrize("delay", [0, 1, 2.5, 60])
def test_default_retry_delay_always_explicit(delay):
    r = t({"default_retry_delay": delay}, self_retry=True)
    assert r.retry_delay == delay and r.task.default_retry_delay == delay and r.retry_backoff is False


# --- backoff -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "backoff, maximum, factor, cap",
    [(True, None, 1, 600), (0.5, None, 1, 600), (2.5, None, 2, 600), (3, 30, 3, 30), (True, 0, 1, 0), (10, 1, 10, 1)],
)
def test_backoff_is_factor_and_numeric_cap(backoff, maximum, factor, cap):
    opts = {"autoretry_for": ["IOError"], "retry_backoff": backoff}
    if maximum is not None:
        opts["retry_backoff_max"] = maximum
    r = t(opts)
    assert r.retry_delay == factor and r.retry_backoff == cap
    assert r.retry_backoff is not True and not isinstance(r.retry_backoff, bool)
    assert Job("f", **r.job_kwargs()).retry_backoff == cap


def test_backoff_wins_over_retry_kwargs_countdown():
    r = t({"autoretry_for": ["IOError"], "retry_backoff": 4, "retry_kwargs": {"countdown": 9}})
    assert r.retry_delay == 4 and r.retry_backoff == 600


def test_backoff_without_autoretry_is_dropped():
    r = t({"retry_backoff": True}, self_retry=True)
    assert r.retry_backoff is False and r.retry_delay == 180 and "SM160" in codes(r)


def test_jitter_notes_and_wrapper():
    on = t({"autoretry_for": ["IOError"], "retry_backoff": True})
    off = t({"autoretry_for": ["IOError"], "retry_backoff": 2, "retry_backoff_max": 100, "retry_jitter": False})
    assert "SM159" in codes(on) and on.wrapper["retry_jitter_off"] is None and on.task.retry_jitter is True
    assert "SM159" not in codes(off) and off.wrapper["retry_jitter_off"] == {"factor": 2, "cap": 100}
    assert off.task.retry_jitter is False


# --- time limits ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "limit, timeout", [(30, 30), (2.5, 3), (0.1, 1), (D("60 * 5"), 300), (D("timedelta(minutes=2)"), 120)]
)
def test_time_limit_to_timeout(limit, timeout):
    r = t({"time_limit": limit})
    assert (r.timeout, r.heartbeat) == (timeout, 0)
    assert "SM163" in codes(r)


def test_no_time_limit_is_never_saq_default():
    r = t()
    assert r.timeout == 0 and r.heartbeat == 60
    assert Job("f", **r.job_kwargs()).timeout == 0
    cron = CronJob(lambda ctx: None, cron="* * * * *", **r.cron_kwargs())
    assert cron.timeout == 0 and cron.heartbeat == 60


def test_time_limit_from_app_defaults_and_decorator_wins():
    assert t(defaults={"task_time_limit": 120}).timeout == 120
    assert t(defaults={"CELERY_TASK_TIME_LIMIT": 120}).timeout == 120
    assert t({"time_limit": 5}, defaults={"task_time_limit": 120}).timeout == 5
    assert t(defaults={"time_limit": 7}).timeout == 7  # a base-class attribute


def test_dynamic_time_limit_falls_back_and_is_flagged():
    r = t({"time_limit": D("settings.LIMIT")})
    assert r.timeout == 0 and "SM157" in codes(r) and r.migratability == "assisted"


def test_soft_time_limit():
    r = t({"soft_time_limit": 10, "time_limit": 20})
    assert r.timeout == 20 and "SM151" in codes(r) and r.migratability == "assisted"


# --- results -------------------------------------------------------------------------------


def test_ignore_result_ttl():
    r = t({"ignore_result": True})
    assert r.ttl == -1 and "SM161" in codes(r)
    assert "failures included" in next(n.message for n in r.notes if n.code == "SM161")


def test_ignore_result_with_stored_errors_keeps_ttl():
    assert t({"ignore_result": True, "store_errors_even_if_ignored": True}).ttl == 86400


@pytest.mark.parametrize("expires, ttl", [(3600, 3600), (None, 0), (0, 0), (D("timedelta(days=2)"), 172800), (0.5, 1)])
def test_result_expires_is_ttl(expires, ttl):
    assert t(defaults={"result_expires": expires}).ttl == ttl


def test_ignore_result_from_settings():
    assert t(defaults={"task_ignore_result": True}).ttl == -1
    assert t({"ignore_result": False}, defaults={"task_ignore_result": True}).ttl == 86400


# --- findings-only options -------------------------------------------------------------------


@pytest.mark.parametrize(
    "options, code, migratability",
    [
        ({"rate_limit": "10/m"}, "SM152", "auto"),
        ({"priority": 5}, "SM154", "assisted"),
        ({"acks_late": True}, "SM155", "auto"),
        ({"reject_on_worker_lost": True}, "SM155", "auto"),
        ({"serializer": "pickle"}, "SM156", "assisted"),
        ({"serializer": "msgpack"}, "SM156", "assisted"),
        ({"track_started": True}, "SM160", "auto"),
        ({"typing": False}, "SM160", "auto"),
        ({"throws": D("(KeyError,)")}, "SM160", "auto"),
        ({"trail": False}, "SM160", "auto"),
        ({"send_events": False}, "SM160", "auto"),
        ({"bogus_option": 1}, "SM158", "assisted"),
        ({"max_retries": D("settings.N")}, "SM157", "assisted"),
        ({"expires": 60}, "SM153", "auto"),
        ({"expires": D("datetime(2030, 1, 1)")}, "SM157", "assisted"),
    ],
)
def test_findings(options, code, migratability):
    r = t(options)
    assert code in codes(r) and r.migratability == migratability


@pytest.mark.parametrize(
    "options",
    [
        {"serializer": "json"},
        {"queue": "emails"},
        {"name": "x.y"},
        {"bind": True},
        {"acks_late": False},
        {"track_started": False},
        {"base": D("MyTask")},
    ],
)
def test_no_findings_for_defaults_and_options_handled_elsewhere(options):
    assert codes(t(options)) == []


def test_settings_defaults_findings():
    assert "SM155" in codes(t(defaults={"task_acks_late": True}))
    assert "SM156" in codes(t(defaults={"task_serializer": "pickle"}))
    assert "SM152" in codes(t(defaults={"task_default_rate_limit": "5/s"}))


def test_expires_goes_to_wrapper():
    r = t({"expires": 90})
    assert r.task.expires == 90 and r.wrapper["expires"] == 90


# --- output contract -------------------------------------------------------------------------


EXAMPLES = [
    {},
    {"autoretry_for": D("(IOError, requests.RequestException)"), "retry_backoff": True, "max_retries": 5},
    {"time_limit": 30, "ignore_result": True},
    {
        "autoretry_for": ["IOError"],
        "retry_kwargs": {"countdown": 2.5, "max_retries": 1},
        "retry_jitter": False,
        "retry_backoff": 3,
        "expires": 10,
        "rate_limit": "1/s",
        "soft_time_limit": 3,
    },
]


@pytest.mark.parametrize("options", EXAMPLES)
@pytest.mark.parametrize("self_retry", [False, True])
def test_output_contract(options, self_retry):
    r = t(options, self_retry=self_retry, module="proj.tasks")
    data = r.to_json()
    assert json.loads(json.dumps(data)) == data
    assert set(data["job"]) == {"retries", "retry_delay", "retry_backoff", "timeout", "heartbeat", "ttl"}
    Job("proj.tasks.f", **r.job_kwargs())  # accepted by saq.Job
    CronJob(lambda ctx: None, cron="0 * * * *", **r.cron_kwargs())  # accepted by saq.CronJob
    rebuilt = eval(r.to_source(), {"TaskOptions": TaskOptions})  # noqa: S307 (our own generated source)
    assert rebuilt == r.task
    assert TaskOptions.from_json(r.task.to_json()) == r.task
    for note in r.notes:
        assert note.code in SEVERITY


def test_rule_files_exist_with_matching_severity():
    catalogue = rules.all_rules()
    for code, severity in SEVERITY.items():
        assert code in catalogue, f"add saqmigrate/data/rules/{code}.toml"
        assert catalogue[code].severity == severity, code


def test_task_options_refuses_saq_traps():
    with pytest.raises(ValueError, match="no cap"):
        TaskOptions(retry_backoff=True)
    with pytest.raises(ValueError, match="attempts"):
        TaskOptions(retries=0)
    with pytest.raises(ValueError, match="whole seconds"):
        TaskOptions(timeout=1.5)
    with pytest.raises(ValueError, match="exception"):
        TaskOptions(autoretry_for=(42,))
