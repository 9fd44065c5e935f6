from tests.scan.helpers import scan, write_tree


def entries(idx):
    return {s.entry: s for s in idx.schedules}


def test_all_beat_schedule_forms(tmp_path):
    write_tree(
        tmp_path,
        {
            "proj/__init__.py": "",
            "proj/settings.py": """
            from datetime import timedelta
            from celery.schedules import crontab, schedule, solar
            EVERY_HOUR = crontab(minute=0)
            CELERY_BEAT_SCHEDULE = {
                "update-boxes": {
                    "task": "downloads.tasks.update_download_boxes",
                    "schedule": crontab(hour="*/6"),
                },
                "pos": {"task": "t.pos", "schedule": crontab(0, 3, "mon-fri")},
                "td": {"task": "t.td", "schedule": timedelta(minutes=5), "args": (1, 2), "options": {"queue": "q"}},
                "num": {"task": "t.num", "schedule": 30.0, "relative": True},
                "sch": {"task": "t.sch", "schedule": schedule(run_every=timedelta(hours=1))},
                "sol": {"task": "t.sol", "schedule": solar("sunset", -37.81, 144.96)},
                "named": {"task": "t.named", "schedule": EVERY_HOUR},
                "fs": {"task": "t.fs", "schedule": crontab.from_string("0 4 * * *")},
                "bad": {"task": "t.bad", "schedule": 60, "queue": "x"},
            }
            CELERY_BEAT_SCHEDULE["item"] = {"task": "t.item", "schedule": crontab(minute=15)}
            CELERY_BEAT_SCHEDULE.update({"upd": {"task": "t.upd", "schedule": 10}})
        """,
        },
    )
    e = entries(scan(tmp_path))
    assert e["update-boxes"].kind == "crontab" and e["update-boxes"].celery == {"hour": "*/6"}
    assert e["update-boxes"].line == 5 and e["update-boxes"].source == "CELERY_BEAT_SCHEDULE"
    assert e["pos"].celery == {"minute": 0, "hour": 3, "day_of_week": "mon-fri"}
    assert e["td"].kind == "interval" and e["td"].celery == {"seconds": 300.0}
    assert e["td"].args == [1, 2] and e["td"].options == {"queue": "q"}
    assert e["num"].celery == {"seconds": 30.0} and e["num"].relative is True
    assert e["sch"].kind == "schedule" and e["sch"].celery == {"seconds": 3600.0}
    assert e["sol"].kind == "solar" and "sunset" in e["sol"].celery["expr"]
    assert e["named"].celery == {"minute": 0}
    assert e["fs"].celery == {"from_string": "0 4 * * *"}
    assert "SM253" in e["bad"].rules
    assert e["item"].source == "item_assignment" and e["item"].celery == {"minute": 15}
    assert e["upd"].source == "update"


def test_app_conf_forms_and_add_periodic_task(tmp_path):
    write_tree(
        tmp_path,
        {
            "proj/__init__.py": "",
            "proj/celery.py": """
            from celery import Celery
            from celery.schedules import crontab
            app = Celery("proj")
            app.conf.beat_schedule = {"a": {"task": "proj.tasks.test", "schedule": 5.0}}
            app.conf.update(beat_schedule={"b": {"task": "proj.tasks.test", "schedule": 6.0}})
            app.conf.beat_schedule["c"] = {"task": "proj.tasks.test", "schedule": 7.0}

            @app.on_after_configure.connect
            def setup_periodic_tasks(sender, **kwargs):
                sender.add_periodic_task(10.0, test.s("hello"), name="add every 10")
                sender.add_periodic_task(crontab(hour=7, minute=30, day_of_week=1), test.s("Happy Mondays!"))

            @app.task
            def test(arg):
                print(arg)
        """,
        },
    )
    idx = scan(tmp_path)
    e = entries(idx)
    assert {"a", "b", "c", "add every 10"} <= set(e)
    assert e["add every 10"].task == "proj.celery.test" and e["add every 10"].args == ["hello"]
    mondays = [s for s in idx.schedules if s.entry is None and s.source == "add_periodic_task"][0]
    assert mondays.celery == {"hour": 7, "minute": 30, "day_of_week": 1} and mondays.task == "proj.celery.test"


def test_dynamic_and_loop_schedules_are_reported_not_guessed(tmp_path):
    write_tree(
        tmp_path,
        {
            "celeryconfig.py": """
            from django.conf import settings
            beat_schedule = settings.MY_SCHEDULE
            CELERY_BEAT_SCHEDULE = {}
            for name in ["x", "y"]:
                CELERY_BEAT_SCHEDULE[f"refresh-{name}"] = {"task": "t.refresh", "schedule": 60, "args": (name,)}
        """,
        },
    )
    idx = scan(tmp_path)
    dyn = [s for s in idx.schedules if s.kind == "dynamic"]
    assert dyn and dyn[0].from_settings and "SM250" in dyn[0].rules and dyn[0].migratability == "manual"
    loop = [s for s in idx.schedules if s.in_loop]
    assert loop and "SM251" in loop[0].rules and loop[0].entry is None


def test_periodic_task_legacy_decorator(tmp_path):
    write_tree(
        tmp_path,
        {
            "legacy.py": """
            from celery.task import periodic_task
            from celery.schedules import crontab

            @periodic_task(run_every=crontab(minute=0, hour="*/3"))
            def every_three_hours():
                pass
        """,
        },
    )
    idx = scan(tmp_path)
    (t,) = idx.tasks
    assert t.kind == "periodic_task" and "SM112" in t.rules
    (s,) = idx.schedules
    assert s.task == "legacy.every_three_hours" and s.celery == {"minute": 0, "hour": "*/3"}
