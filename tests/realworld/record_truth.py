"""Record Celery's run-time truth for a corpus project into tests/realworld/NAME.json ("celery_truth").

    python tests/realworld/record_truth.py NAME --python /tmp/venvs/NAME/bin/python

Runs saqmigrate verify's probe (the app imported in a child process with the project's own
interpreter, broker forced to memory://) with the "app" and "env" already recorded in the JSON, and
keeps, per task, the options the fidelity test compares (the queue Celery's router picks, retries,
retry_kwargs, autoretry_for as qualified names, limits...) and the beat schedule. Facts only, no code.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
KEEP = (
    "max_retries",
    "default_retry_delay",
    "autoretry_for",
    "dont_autoretry_for",
    "retry_kwargs",
    "retry_backoff",
    "retry_backoff_max",
    "retry_jitter",
    "time_limit",
    "soft_time_limit",
    "rate_limit",
    "acks_late",
    "ignore_result",
    "serializer",
    "expires",
)


def main() -> None:
    from saqmigrate.verify import run_probe

    ap = argparse.ArgumentParser()
    ap.add_argument("name")
    ap.add_argument("--python", required=True)
    ap.add_argument("--corpus", default="/tmp/realworld")
    args = ap.parse_args()
    path = HERE / f"{args.name}.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    truth = doc.get("celery_truth") or {}
    root = Path(args.corpus) / args.name / ((doc.get("source_roots") or [""])[0])
    os.environ.update(truth.get("env") or {})
    probe = run_probe(root.resolve(), truth["app"], {}, python=args.python)
    tasks = {}
    for name, t in sorted((probe.get("tasks") or {}).items()):
        opts = t.get("options") or {}
        tasks[name] = {
            "queue": (t.get("route") or {}).get("queue"),
            **{k: opts.get(k) for k in KEEP},
            "module": t.get("module"),
            "base": t.get("class"),
        }
    beat = {
        entry: {"task": b.get("task"), "schedule": b.get("schedule")}
        for entry, b in sorted((probe.get("beat_schedule") or {}).items())
    }
    truth.update(celery=probe.get("celery"), timezone=probe.get("timezone"), tasks=tasks, beat=beat)
    doc["celery_truth"] = truth
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{args.name}: {len(tasks)} tasks, {len(beat)} beat entries recorded", file=sys.stderr)


if __name__ == "__main__":
    main()
