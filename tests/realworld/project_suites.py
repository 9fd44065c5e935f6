"""Issue 17 acceptance: a public project's own test suite before the migration, after ``rewrite`` with every
task routed to SAQ, and after ``finalize --force`` with Celery uninstalled (docs/finalize.md, "The project's
own tests").

Only commands, the test selection and the counts are kept here, never the projects' code. The trees are
fetched with the research ``fetch`` tool and exported into /tmp/suites/<name>; each project gets a throwaway
venv, /tmp/suites/<name>-venv, with ``pip install -e /work/main`` and its own requirements.

    python tests/realworld/project_suites.py show pretalx        # every command, in order
    python tests/realworld/project_suites.py run pretalx 2       # prepare stage 2 and run the selection
    python tests/realworld/project_suites.py run wger 3 --full   # the whole suite instead

Stages (each a copy of the previous tree: <name>, <name>-s2, <name>-s3, <name>-s3c):
  1   the project as fetched
  2   ``saqmigrate rewrite . --write``; ``saqmigrate route set '*' saq --force`` (no SAQ worker runs, so
      --force) in the flag store SAQMIGRATE_REDIS_URL (DB 9 of the shared Redis)
  3a  ``saqmigrate finalize . --force --write`` with Celery still installed (what --force leaves: code
      finalize reports SM80x still imports Celery, and the requirements keep it)
  3   the same tree, ``pip uninstall -y celery kombu billiard`` (the literal acceptance)
  3c  (wger) 3 with the places finalize reported resolved by hand (PORTS below), Celery uninstalled

Measured 2026-11-29 with saqmigrate 7b83834 (+ the eager registry fix, runtime/testing.py), stage 3a of pretalx
again at 32c3ec9 (the "3a@7b83834" counts are the first measurement), CPython 3.13.0
(pretalx) / 3.12.1 (wger), on the shared 2-core machine. wger's stages 3a and 3 and all of Misago again later
that day with saqmigrate 1ddcae3..6488e5f (finalize converts beat hooks, group(*sigs), keeps mocked dispatch
methods' names, takes Celery's Django apps out of INSTALLED_APPS): wger and Misago reach stage 3 with Celery
uninstalled, without hand edits ("3@7b83834" is the first measurement, when stage 3 did not start).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import sys
from pathlib import Path

SUITES = Path(os.environ.get("SAQMIGRATE_SUITES", "/tmp/suites"))
MAIN = Path(__file__).resolve().parents[2]
FLAGS = "redis://127.0.0.1:6379/9"  # the flag store and SAQ's Redis for every stage (a DB of our own)

PROJECTS: dict[str, dict] = {
    "pretalx": {
        "repo": "pretalx/pretalx",
        "commit": "5a3c2f61ecafc83cfa85aa518cc5af3d564b16ef",
        "python": "~/.pyenv/versions/3.13.0/bin/python",  # requires-python >= 3.13
        # pyproject's dependencies + [dev] + [postgres]; redis~=8.1 replaced by redis>=7.4,<8: SAQ 0.26 (and so
        # saqmigrate) requires redis<8, pip refuses the pair as pinned (ResolutionImpossible)
        "install": [
            "python - <<'EOF' > /tmp/suites/pretalx-reqs.txt\nimport tomllib\n"
            "d = tomllib.load(open('pyproject.toml', 'rb'))['project']\n"
            "for r in d['dependencies'] + d['optional-dependencies']['dev'] + d['optional-dependencies']['postgres']:\n"
            "    print('redis>=7.4,<8' if r.startswith('redis') else r)\nEOF",
            "{venv}/bin/pip install -e /work/main -r /tmp/suites/pretalx-reqs.txt",
            # the German strings a test asserts on need the compiled catalogues (CI builds them too)
            "cd src && DJANGO_SETTINGS_MODULE=pretalx.common.settings.test_settings {venv}/bin/python manage.py "
            "compilemessages",
        ],
        # RabbitMQ answers on localhost:5672 here; the suite's two 'broker unreachable' tests expect none, as
        # on the project's CI: Celery reads CELERY_BROKER_URL from the environment first
        "env": {"CELERY_BROKER_URL": "amqp://guest:guest@127.0.0.1:1//"},
        "test": "{venv}/bin/python -m pytest -q -p no:sugar -p no:cacheprovider -n 2 {tests}",
        "full": "src/tests",
        # test files that dispatch, mock or configure tasks: grep -rlE "\.delay\(|apply_async|CELERY_|celery|
        # \.tasks import|tasks\.task_|import tasks|\btask_[a-z_]+\(" src/tests
        "selection": [
            "src/tests/agenda/test_tasks.py",
            "src/tests/common/commands/test_sendtestemail.py",
            "src/tests/common/test_checks.py",
            "src/tests/common/test_exceptions.py",
            "src/tests/common/test_image.py",
            "src/tests/common/test_tasks.py",
            "src/tests/common/views/unit/test_mixins.py",
            "src/tests/event/test_tasks.py",
            "src/tests/mail/domain/test_send.py",
            "src/tests/mail/interfaces/forms/test_compose.py",
            "src/tests/mail/test_tasks.py",
            "src/tests/orga/views/integration/test_event.py",
            "src/tests/orga/views/integration/test_mails.py",
            "src/tests/orga/views/integration/test_organiser.py",
            "src/tests/orga/views/integration/test_speaker.py",
            "src/tests/orga/views/unit/test_admin.py",
            "src/tests/schedule/test_tasks.py",
            "src/tests/submission/domain/test_submission.py",
            "src/tests/submission/test_tasks.py",
        ],
        "expected": {  # (passed, failed, errors, skipped); None: the suite does not start
            "1": {"selection": (866, 0, 0, 0), "full": (9668, 0, 0, 2)},
            # full: test_render_diff_marks_changes_in_long_text failed once under load (diff_match_patch's
            # 1 s timeout); it passes when rerun, in every tree
            "2": {"selection": (866, 0, 0, 0), "full": (9668, 0, 0, 2)},
            # 46 = 21 reads of settings.CELERY_TASK_ALWAYS_EAGER after finalize renamed its assignments,
            # 12 .apply() (SM803, reported), 9 mocks of task.apply_async that the converted call sites
            # (enqueue_with) bypass, 4 task.retry / task.MaxRetriesExceededError on the job object
            # full: 70 = 28 reads of the setting, 28 .apply() (13 in test_update_check.py, which the selection's
            # grep misses), 10 bypassed mocks, 4 retry / MaxRetriesExceededError
            "3a@7b83834": {"selection": (820, 46, 0, 0), "full": (9598, 70, 0, 2)},
            # at 32c3ec9 (finalize keeps an eager switch the project reads, eager mode honours it, SaqJob has
            # apply/retry/MaxRetriesExceededError): only the 10 bypassed apply_async mocks are left, unreported
            # (test_send.py 7, test_image.py 2, test_event.py 1: files finalize does not otherwise edit)
            "3a": {"selection": (856, 10, 0, 0), "full": (9658, 10, 0, 2)},
            # ModuleNotFoundError: celery at django.setup(): pretalx/common/checks.py imports
            # pretalx/celery_app.py, which finalize keeps (SM803: the checks and the admin use app)
            "3": {"selection": None, "full": None},
            # later on 2026-11-29, a new machine, saqmigrate 3d1f5d3: the install above does not install pretalx
            # itself, so two tests reading its package metadata fail in every tree (test_checks.py:
            # test_check_python_version_too_old_warns, test_requires_python_metadata_matches_pyproject)
            "1@3d1f5d3": {"selection": (864, 2, 0, 0)},
            # finalize keeps the mocked dispatch methods' names and leaves .apply(): the 10 bypassed mocks pass
            # and 3a fails exactly what stage 1 fails here. Stage 3 still does not start: celery_app.py stays
            # (its task_failure signal handler), with AsyncResult(id) in common/views/mixins.py and
            # celery.exceptions.Retry in mail/tasks.py (7 findings, none with a faithful conversion yet)
            "3a@3d1f5d3": {"selection": (864, 2, 0, 0)},
        },
    },
    "wger": {
        "repo": "wger-project/wger",
        "commit": "aaba20184527b018e10f1be576202aa7e7cb4c21",
        "python": "~/.pyenv/versions/3.12.1/bin/python",  # requires-python >= 3.12
        "install": [
            "python - <<'EOF' > /tmp/suites/wger-reqs.txt\nimport tomllib\nd = tomllib.load(open('pyproject.toml', 'rb'))\n"
            "for r in d['project']['dependencies'] + d['dependency-groups']['dev']:\n    print(r)\nEOF",
            "{venv}/bin/pip install -e /work/main -r /tmp/suites/wger-reqs.txt",
            "mkdir -p /tmp/wger-test",
        ],
        "env": {"DJANGO_SETTINGS_MODULE": "settings.ci", "DJANGO_MEDIA_ROOT": "/tmp/wger-test"},
        "test": "{venv}/bin/python manage.py test {parallel}{tests}",  # the project's CI: manage.py test
        "full": "",
        # test modules that import or patch task modules (wger/tasks.py is invoke's, not Celery's)
        "selection": [
            "wger.core.tests.test_apikey",
            "wger.core.tests.test_oidc_provider",
            "wger.exercises.tests.test_cache",
            "wger.nutrition.tests.test_sync",
        ],
        "expected": {  # Django's runner: (passed, failed, errors, skipped)
            "1": {"selection": (70, 0, 0, 0), "full": (1907, 0, 0, 36)},
            # full: test_sync_exercises (exercises.tests.test_management_commands) reaches wger.de when the
            # order differs (it fails alone in the stage-1 tree too): no network here
            "2": {"selection": (70, 0, 0, 0), "full": (1906, 0, 1, 36)},
            "3a@7b83834": {"selection": (70, 0, 0, 0), "full": (1907, 0, 0, 36)},
            # at 7b83834: ModuleNotFoundError: celery: wger/__init__.py imports wger/celery_configuration.py,
            # kept (SM803) because the tasks modules still registered beat entries with no exact cron (SM806)
            "3@7b83834": {"selection": None, "full": None},
            "3c": {"selection": (70, 0, 0, 0), "full": (1906, 0, 1, 36)},  # the same network test as stage 2
            # at d87550b: 0 findings; the three setup_periodic_tasks hooks are @beat_hook (their random crontabs
            # drawn when a worker starts), group(*tasks).apply_async() takes the runtime's group,
            # celery_configuration.py is deleted and wger/__init__.py no longer imports it
            "3a": {"selection": (70, 0, 0, 0), "full": None},  # full: not rerun with Celery installed
            "3": {"selection": (70, 0, 0, 0), "full": (1907, 0, 0, 36)},  # Celery, kombu, billiard uninstalled
        },
        # 3c: what the team does with finalize's findings, as commands on the stage-3 copy (tests/realworld
        # keeps no project code): drop the app import from wger/__init__.py and delete celery_configuration.py
        # (SM803); delete the three setup_periodic_tasks beat hooks and their crontab/app imports (SM806: the
        # schedules are random per process, no exact cron); group(*tasks).apply_async() ->
        # saqmigrate.runtime.jobs.group(tasks).enqueue() (SM801) and the one test asserting
        # mock_group.return_value.apply_async -> .enqueue
        "ports": "python {port} .",
    },
}
PROJECTS["misago"] = {
    "repo": "rafalp/Misago",
    "commit": "c7ffe0b6d3739efc534d0e6d60a6b9ee959ae789",
    "python": "~/.pyenv/versions/3.12.1/bin/python",  # the project's CI runs 3.12
    # requirements.txt is pip-compiled (celery 5.3.6, redis 5.0.1: SAQ's redis<8 is met); pytest-xdist for -n 2
    "install": ["{venv}/bin/pip install -e /work/main -r requirements.txt pytest-xdist"],
    "celery": "celery[redis]==5.3.6",  # the version its requirements.txt pins (stage 3a reinstalls it)
    # Misago requires PostgreSQL: the local one (trust auth); pytest-django creates test_misago
    "env": {"POSTGRES_DB": "misago", "POSTGRES_USER": "postgres", "POSTGRES_HOST": "127.0.0.1"},
    "test": "{venv}/bin/python -m pytest -q -p no:cacheprovider -n 2 {tests}",
    "full": "misago",  # 9032 tests: longer than the 15 minutes on this shared machine; the selection is run
    # test files that name tasks, their dispatch or Celery: grep -rlE "tasks|\.delay\b|apply_async|celery" misago
    # --include=*.py | grep -E "/tests?/|test_" (conftest files left out). Most patch a task object where the
    # caller imported it and assert mock.delay.assert_called_once_with(...)
    "selection": [
        "misago/account/tests/test_account_delete.py",
        "misago/admin/tests/test_group_delete.py",
        "misago/categories/tests/test_synchronize_categories_task.py",
        "misago/notifications/tests/test_delete_duplicate_watched_threads.py",
        "misago/notifications/tests/test_notify_on_new_private_thread.py",
        "misago/notifications/tests/test_notify_on_new_thread_reply.py",
        "misago/posting/tests/test_post_edit_state.py",
        "misago/posting/tests/test_private_thread_reply_view.py",
        "misago/posting/tests/test_private_thread_start_view.py",
        "misago/posting/tests/test_reply_state.py",
        "misago/posting/tests/test_start_state.py",
        "misago/posting/tests/test_thread_reply_view.py",
        "misago/posting/tests/test_upgrade_post_content_task.py",
        "misago/privatethreads/tests/test_private_thread_detail_view_moderation.py",
        "misago/privatethreads/tests/test_private_thread_detail_view_moderation_actions.py",
        "misago/privatethreads/tests/test_private_thread_members_add_view.py",
        "misago/themes/admin/tests/test_building_css_files.py",
        "misago/themes/admin/tests/test_getting_remote_css_size.py",
        "misago/threads/tests/test_category_thread_list_view_moderation.py",
        "misago/threads/tests/test_category_thread_list_view_moderation_actions.py",
        "misago/threads/tests/test_synchronize_threads_task.py",
        "misago/threads/tests/test_thread_detail_view_moderation.py",
        "misago/threads/tests/test_thread_detail_view_moderation_actions.py",
        "misago/threads/tests/test_thread_list_view_moderation.py",
        "misago/threads/tests/test_thread_list_view_moderation_actions.py",
        "misago/users/admin/tests/test_deleting_user_with_content.py",
        "misago/users/tests/test_delete_group.py",
        "misago/users/tests/test_delete_user_task.py",
        "misago/users/tests/test_remove_group_from_users_groups_ids.py",
    ],
    "expected": {  # pytest: (passed, failed, errors, skipped)
        "1": {"selection": (874, 0, 0, 0)},
        "2": {"selection": (874, 0, 0, 0)},
        "3a": {"selection": (874, 0, 0, 0)},  # at d87550b, before "celery" left INSTALLED_APPS (no effect here)
        # Celery, kombu, billiard uninstalled; at d87550b Django's setup() failed on INSTALLED_APPS' "celery"
        "3": {"selection": (874, 0, 0, 0)},
    },
}
STAGES = ("1", "2", "3a", "3", "3c")
# what finalize takes out of the requirements (flower depends on celery: wger lists it)
UNINSTALL = "celery kombu billiard flower django-celery-beat django-celery-results"

# wger's stage-3c follow-up as one edit script (import lines and call shapes only, as sed would take them)
WGER_PORT = r'''"""The hand follow-up of wger's finalize findings (SM803 app module, SM806 beat entries, SM801 group)."""
import re, sys
from pathlib import Path
root = Path(sys.argv[1])
def edit(rel, fn):
    p = root / rel; s = p.read_text(); t = fn(s)
    assert t != s, rel
    p.write_text(t)
edit("wger/__init__.py", lambda s: s.replace("from wger.celery_configuration import app\n", ""))
(root / "wger/celery_configuration.py").unlink()
beat = re.compile(r"\n@app\.on_after_finalize\.connect\ndef setup_periodic_tasks\(.*?(?=\n@|\ndef |\Z)", re.S)
for rel in ("wger/core/tasks.py", "wger/exercises/tasks.py", "wger/nutrition/tasks.py"):
    edit(rel, lambda s: beat.sub("\n", s).replace("from celery.schedules import crontab\n", "")
         .replace("from wger.celery_configuration import app\n", ""))
edit("wger/nutrition/tasks.py", lambda s: s.replace("from celery import group\n", "from saqmigrate.runtime.jobs import group\n")
     .replace("group(*tasks).apply_async()", "group(tasks).enqueue()"))
edit("wger/nutrition/tests/test_sync.py", lambda s: s.replace("mock_group.return_value.apply_async.assert_called_once()",
                                                            "mock_group.return_value.enqueue.assert_called_once()"))
'''


def _tree(name: str, stage: str) -> Path:
    return SUITES / {"1": name, "2": f"{name}-s2", "3a": f"{name}-s3", "3": f"{name}-s3", "3c": f"{name}-s3c"}[stage]


def commands(name: str, stage: str, full: bool = False) -> list[tuple[Path, str]]:
    """(directory, shell command) pairs that prepare ``stage`` from the previous one and run the tests."""
    p = PROJECTS[name]
    venv = SUITES / f"{name}-venv"
    root = _tree(name, stage)
    out: list[tuple[Path, str]] = []
    if stage == "1":
        out.append(
            (
                SUITES,
                f"mkdir -p {name} && git --git-dir=/work/.mirror/{p['repo'].replace('/', '+')}/repo "
                f"archive HEAD | tar -x -C {name}",
            )
        )
        out.append((SUITES, f"{p['python']} -m venv {venv}"))
        out += [(SUITES / name, c.format(venv=venv)) for c in p["install"]]
    elif stage == "2":
        out.append((SUITES, f"rm -rf {root} && cp -a {_tree(name, '1')} {root}"))
        out.append((root, "saqmigrate rewrite . --write"))
        out.append((root, f"{venv}/bin/saqmigrate route set '*' saq --reason acceptance --force"))
    elif stage == "3a":
        out.append((SUITES, f"{venv}/bin/pip install -q '{p.get('celery', 'celery[redis]~=5.6.0')}'"))
        out.append((SUITES, f"rm -rf {root} && cp -a {_tree(name, '2')} {root}"))
        out.append((root, "saqmigrate finalize . --force --write"))
    elif stage == "3":
        out.append((SUITES, f"{venv}/bin/pip uninstall -y {UNINSTALL}"))
    elif stage == "3c":
        if "ports" not in p:
            raise SystemExit(f"{name}: no hand follow-up recorded for stage 3c")
        out.append((SUITES, f"{venv}/bin/pip uninstall -y {UNINSTALL}"))
        out.append((SUITES, f"rm -rf {root} && cp -a {_tree(name, '3')} {root}"))
        script = Path(tempfile.gettempdir()) / f"{name}_port.py"
        script.write_text(WGER_PORT)
        out.append((root, p["ports"].format(port=script)))
    tests = p["full"] if full else " ".join(p["selection"])
    parallel = "--parallel 2 " if full else ""
    out.append((root, p["test"].format(venv=venv, tests=tests, parallel=parallel)))
    return out


def environment(name: str) -> dict[str, str]:
    return {**os.environ, **PROJECTS[name]["env"], "SAQMIGRATE_REDIS_URL": FLAGS, "SAQ_REDIS_URL": FLAGS}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("action", choices=("show", "run"))
    ap.add_argument("name", choices=sorted(PROJECTS))
    ap.add_argument("stage", nargs="?", choices=STAGES)
    ap.add_argument("--full", action="store_true", help="the whole suite instead of the task-related selection")
    a = ap.parse_args(argv)
    stages = [a.stage] if a.stage else [s for s in STAGES if s in PROJECTS[a.name]["expected"]]
    if a.action == "show":
        for stage in stages:
            print(f"# stage {stage}: expected {PROJECTS[a.name]['expected'].get(stage)}")
            for cwd, cmd in commands(a.name, stage, a.full):
                print(f"(cd {cwd} && {cmd})")
        return 0
    if not a.stage:
        ap.error("run needs a stage")
    if a.stage != "1" and not _tree(a.name, "1").is_dir():
        raise SystemExit(f"{_tree(a.name, '1')} is missing: fetch github:{PROJECTS[a.name]['repo']} and run stage 1")
    steps = commands(a.name, a.stage, a.full)
    rc = 0
    for i, (cwd, cmd) in enumerate(steps):
        print(f"$ (cd {cwd} && {cmd})", flush=True)
        rc = subprocess.run(cmd, shell=True, cwd=cwd, env=environment(a.name)).returncode
        if rc and i < len(steps) - 1:
            return rc
    print(f"expected: {PROJECTS[a.name]['expected'].get(a.stage, {}).get('full' if a.full else 'selection')}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
