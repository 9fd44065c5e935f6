"""scan carries rewrite --mode native's verdict per task (docs/scan-json.md "native"): the same verdicts as the
rewrite, from the trees the scan parsed, cached by the modules each verdict read."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

from rich.console import Console

from saqmigrate.config import Config
from saqmigrate.emit import formats
from saqmigrate.emit.terminal import render
from saqmigrate.rewrite import compute_changes
from saqmigrate.scan import run_scan
from saqmigrate.transform import blocking

ROOT = Path(__file__).resolve().parents[2]
T = "shop.catalog.tasks."


def _fixture(tmp_path: Path) -> Path:
    root = tmp_path / "native_django"
    shutil.copytree(ROOT / "fixtures" / "native_django", root)
    return root


def test_scan_json_has_the_rewrites_verdicts(tmp_path: Path) -> None:
    root = _fixture(tmp_path)
    index, _ = run_scan(root, Config(), use_cache=False)
    data = json.loads(formats.to_json(index))
    native = data["native"]
    by_task = {r["task"].removeprefix(T): r for r in native["tasks"]}
    result = compute_changes(root, Config(), mode="native", index=index)
    for prefix, verdict in (("native", "ported"), ("SM130", "partly"), ("SM113", "bridged")):
        names = {m.split()[1].rstrip(":").removeprefix(T) for m in result.messages if m.startswith(f"{prefix} shop.")}
        assert names == {k for k, r in by_task.items() if r["verdict"] == verdict}, verdict
    assert native["summary"] == {"ported": 17, "partly": 2, "bridged": 7}
    notify = by_task["notify"]
    assert notify["blocking"] == {
        "call": "django.core.mail.send_mail()",
        "why": "Django mail (SMTP)",
        "where": "shop/catalog/tasks.py:69",
        "chain": ["shop.catalog.tasks.notify"],
    }
    assert notify["reason"].startswith("not proven non-blocking: shop.catalog.tasks.notify → ")
    partly = by_task["count_then_move"]
    assert partly["segments"] == 1 and partly["rewrites"] == ["count() -> await acount() x2"]
    assert partly["blocking"]["why"] == "database transaction" and partly["reason"] == ""
    assert by_task["fetch_status"]["rewrites"] == ["requests.get -> httpx.AsyncClient x1"]


def test_the_rewrite_prover_reads_the_scans_trees(tmp_path: Path, monkeypatch) -> None:
    root = _fixture(tmp_path)
    index, _ = run_scan(root, Config(), use_cache=False)
    reads: list[str] = []
    real = blocking.Prover._read

    def counting(self, name):
        if self.loader is None:
            reads.append(name)
        return real(self, name)

    monkeypatch.setattr(blocking.Prover, "_read", counting)
    result = compute_changes(root, Config(), mode="native", index=index)
    assert any(m.startswith("native shop.catalog.tasks.nap:") for m in result.messages)
    assert reads == []  # every module came through the scan's loader


def test_warm_scans_reuse_verdicts_until_a_module_they_read_changes(tmp_path: Path, monkeypatch) -> None:
    root = _fixture(tmp_path)
    run_scan(root, Config())
    calls: list[str] = []
    real = blocking.Prover.plan_task

    def counting(self, module, function, **kw):
        calls.append(function)
        return real(self, module, function, **kw)

    monkeypatch.setattr(blocking.Prover, "plan_task", counting)
    index, _ = run_scan(root, Config())
    assert calls == [] and index.native["summary"]["bridged"] == 7
    helpers = root / "shop/catalog/helpers.py"  # titles_for no longer queries: two tasks become portable
    helpers.write_text(
        helpers.read_text().replace(
            "return [b.title for b in Book.objects.filter(author_id=author_id)]", "return [str(author_id)]"
        )
    )
    index, _ = run_scan(root, Config())
    assert sorted(calls) == ["author_summary", "crunch", "slugs", "titles_of"]  # the verdicts that read helpers.py
    verdicts = {r["task"].removeprefix(T): r["verdict"] for r in index.native["tasks"]}
    assert verdicts["titles_of"] == verdicts["author_summary"] == "ported"


def test_the_text_report_lists_bridged_tasks_first_with_the_first_blocking_call(tmp_path: Path) -> None:
    root = _fixture(tmp_path)
    index, _ = run_scan(root, Config(), use_cache=False)
    out = io.StringIO()
    render(index, Console(file=out, width=200, color_system=None), verbose=True)
    text = out.getvalue()
    assert "Native mode (rewrite --mode native): 17 ported, 2 partly ported, 7 bridged" in text
    lines = [line for line in text.splitlines() if line.strip().startswith(T)]
    assert "bridged" in lines[0] and "ported" in lines[-1]
    notify = next(line for line in lines if line.strip().startswith(T + "notify "))
    assert "django.core.mail.send_mail() (Django mail (SMTP); shop/catalog/tasks.py:69)" in notify
