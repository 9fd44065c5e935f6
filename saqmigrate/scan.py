"""The scan pipeline: discover -> parse -> index -> classify.

``run_scan(root)`` returns a classified ProjectIndex. Files are read once; those without a
Celery trigger word are never parsed (unless a re-export must be followed through them);
parsing and extraction run on all cores; results are cached per file.
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from saqmigrate.cache import FileCache
from saqmigrate.config import Config
from saqmigrate.discover import discover, is_test_path, module_name, package_dirs
from saqmigrate.index.extract import attribute_writes, extract, extract_imports_only, may_write_attributes
from saqmigrate.index.live import LIVE_MODULE, apply_live, read_live_facts
from saqmigrate.index.model import FileError, ProjectIndex
from saqmigrate.index.resolve import ModuleFacts, build_index
from saqmigrate.parse import ParseFailure, has_triggers, parse_bytes

if TYPE_CHECKING:
    from saqmigrate.transform.blocking import Writes

PARALLEL_THRESHOLD = 48  # below this many files to parse, a process pool costs more than it saves


@dataclass
class ScanStats:
    discovered: int = 0
    from_cache: int = 0
    read: int = 0
    parsed: int = 0
    lazily_parsed: int = 0
    workers: int = 1
    notes: list[str] = field(default_factory=list)
    #: per-file ``# saqmigrate: ignore[...]`` comments (rel -> {line: codes}); classify applies them, and
    #: the checks that report at source lines (check/) too
    suppressions: dict[str, dict] = field(default_factory=dict)
    #: the files indexed for facts (relative paths, sorted)
    indexed_files: list[str] = field(default_factory=list)


def _process(job: tuple) -> tuple[str, dict]:
    root, rel, module, is_package = job[:4]
    extra: tuple[bytes, ...] = job[4] if len(job) > 4 else ()
    path = os.path.join(root, rel)
    try:
        st = os.stat(path)
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        return rel, {"status": "error", "error": f"unreadable: {exc.strerror or exc}"}
    entry = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha": hashlib.sha1(data).hexdigest()}
    if rel.endswith(f"saq_worker/{LIVE_MODULE}") or (not has_triggers(data) and not any(t in data for t in extra)):
        entry["status"] = "skip"
        if not is_test_path(rel) and may_write_attributes(data):  # parsed for them when verdicts need them
            entry["may_write"] = True
        return rel, entry
    try:
        parsed = parse_bytes(data, rel)
    except ParseFailure as exc:
        entry.update(status="error", error=str(exc))
        return rel, entry
    except (RecursionError, MemoryError, ValueError) as exc:
        entry.update(status="error", error=f"cannot parse: {type(exc).__name__}")
        return rel, entry
    try:
        facts = extract(parsed.tree, parsed.text, module, is_package)
    except RecursionError:
        entry.update(status="error", error="expression nesting too deep to index")
        return rel, entry
    if parsed.recovered:
        facts["recovered"] = parsed.recovered
    entry.update(status="facts", facts=facts)
    return rel, entry


_TOP_IMPORT = re.compile(
    rb"^(?:from[ \t]+[\w.]+[ \t]+import[ \t]*(?:\([^)]*\)|[^\n]*(?:\\\n[^\n]*)*)|import[ \t]+[^\n]+)", re.M
)
_TOP_DEF = re.compile(rb"^(?:async[ \t]+)?(?:def|class)[ \t]+(\w+)|^(\w+)[ \t]*(?::[^=\n]*)?=[^=]", re.M)


def _imports_only(root: str, rel: str, module: str, is_package: bool) -> dict | None:
    """Module-level imports and names of a file without trigger words (a re-exporting
    ``__init__.py``): only its top-level import statements are parsed, which is ~20x cheaper
    than parsing the whole file."""
    try:
        with open(os.path.join(root, rel), "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    snippet = b"\n".join(m.group(0) for m in _TOP_IMPORT.finditer(data))
    try:
        tree = ast.parse(snippet.decode("utf-8", "replace"))
    except (SyntaxError, ValueError):
        try:
            tree = parse_bytes(data, rel).tree
        except (ParseFailure, RecursionError, ValueError):
            return None
    facts = extract_imports_only(tree, module, is_package)
    for m in _TOP_DEF.finditer(data):
        name = (m.group(1) or m.group(2) or b"").decode("ascii", "replace")
        if name:
            facts["defs"].setdefault(name, "assign")
    return facts


def _alias_names(results: dict[str, dict]) -> set[str]:
    """Names under which the project re-binds a Celery task decorator (``project_task = shared_task``,
    ``task = app.task``, a decorator factory around them): files that use only such a name contain no
    Celery trigger word."""
    from saqmigrate.index.extract import LEGACY_TASK, SHARED_TASK

    def celery_like(ref: str) -> bool:
        return ref in SHARED_TASK or ref in LEGACY_TASK or ref.endswith(".task")

    names: set[str] = set()
    factories: list[tuple[str, str]] = []
    builders: list[tuple[str, str]] = []  # task builders (SM125), their subclasses and instances
    for entry in results.values():
        facts = entry.get("facts") if entry.get("status") == "facts" else None
        if not facts:
            continue
        names.update(a for a, info in facts.get("aliases", {}).items() if celery_like(str(info.get("ref") or "")))
        for local, target in facts.get("imports", {}).items():
            if celery_like(target) and local != target.rsplit(".", 1)[-1]:
                names.add(local)
        factories.extend((n, str(f.get("task_ref") or "")) for n, f in facts.get("decorator_factories", {}).items())
        builders.extend((n, ref) for n, refs in facts.get("task_builders", {}).items() for ref in refs)
        builders.extend((c["name"], b) for c in facts.get("classes", []) if not c.get("nested") for b in c["bases"])
        builders.extend((n, ref) for n, ref in facts.get("assign_calls", {}).items())
    # a factory counts when what it applies is Celery's decorator or one of the aliases above
    # (library code is full of decorator factories that have nothing to do with Celery)
    for _ in range(3):
        more = {n for n, ref in factories if n not in names and (celery_like(ref) or ref.rsplit(".", 1)[-1] in names)}
        if not more:
            break
        names |= more
    # a project function or class that applies one of them (gwcelery's DispatchHandler), its subclasses
    # and the module-level instances used as decorators (``handler = Dispatch()``): SM125 needs their uses
    found: set[str] = set()
    for _ in range(3):
        more = {
            n
            for n, ref in builders
            if n not in found
            and (
                ref.rsplit(".", 1)[-1] in found or (not found and (celery_like(ref) or ref.rsplit(".", 1)[-1] in names))
            )
        }
        if not more:
            break
        found |= more
    return {n for n in names | found if len(n) >= 3}


_DECORATOR_USE = re.compile(rb"[@.]([A-Za-z_][A-Za-z0-9_]*)")


def _follow_decorator_aliases(
    root: str, files: list[str], modules_of: dict[str, str], results: dict[str, dict]
) -> None:
    """Index the files the trigger-word prefilter skipped that use a project alias of a task decorator
    (``@name`` / ``.name``; repeated while new aliases appear: an alias of an alias). A skipped file is
    read once per set of alias names: its entry remembers the names it was checked against."""
    seen: set[str] = set()
    for _ in range(4):
        names = _alias_names(results) - seen
        if not names:
            return
        seen |= names
        key = hashlib.sha1("\n".join(sorted(seen)).encode()).hexdigest()[:16]
        wanted = {n.encode() for n in names}
        for rel in files:
            entry = results.get(rel)
            if entry is None or entry.get("status") != "skip" or entry.get("aliases_checked") == key:
                continue
            try:
                with open(os.path.join(root, rel), "rb") as fh:
                    data = fh.read()
            except OSError:
                continue
            if wanted.isdisjoint(_DECORATOR_USE.findall(data)):
                results[rel] = {**entry, "aliases_checked": key}
                continue
            _, new = _process(
                (
                    root,
                    rel,
                    modules_of[rel],
                    rel.endswith("__init__.py"),
                    tuple(b"@" + n for n in wanted) + tuple(b"." + n for n in wanted),
                )
            )
            results[rel] = new if new.get("status") != "skip" else {**entry, "aliases_checked": key}


@dataclass
class _Tree:
    """The discovered files of one scan and their module names."""

    root: Path
    root_s: str
    files: list[str]
    errors: list[tuple[str, str]]
    modules_of: dict[str, str]  # rel -> dotted module
    rel_of_module: dict[str, str]  # dotted module -> rel (the first file of that name)


def _discover(root: Path, config: Config) -> _Tree:
    disc = discover(root, exclude=config.exclude, include=config.include)
    has_init = package_dirs(disc.root, disc.files)
    modules_of = {rel: module_name(rel, has_init) for rel in disc.files}
    rel_of_module: dict[str, str] = {}
    for rel, mod in modules_of.items():
        rel_of_module.setdefault(mod, rel)
    return _Tree(disc.root, str(disc.root), disc.files, disc.errors, modules_of, rel_of_module)


def _from_cache(
    tree: _Tree, cache: FileCache, use_cache: bool, stats: ScanStats
) -> tuple[dict[str, dict], list[tuple]]:
    """The per-file results the cache still holds (same size and mtime, same module name), and the jobs
    for the rest."""
    results: dict[str, dict] = {}
    todo: list[tuple] = []
    for rel in tree.files:
        if use_cache:
            try:
                st = os.stat(os.path.join(tree.root_s, rel))
            except OSError as exc:
                results[rel] = {"status": "error", "error": f"unreadable: {exc.strerror or exc}"}
                continue
            hit = cache.lookup_stat(rel, st.st_size, st.st_mtime_ns)
            if hit is not None and (hit.get("status") != "facts" or hit["facts"].get("module") == tree.modules_of[rel]):
                results[rel] = hit
                stats.from_cache += 1
                continue
        todo.append((tree.root_s, rel, tree.modules_of[rel], rel.endswith("__init__.py")))
    return results, todo


def _process_all(
    todo: list[tuple],
    results: dict[str, dict],
    jobs: int | None,
    progress: Callable[[int, int], None] | None,
    stats: ScanStats,
) -> None:
    """Read, parse and extract every job: in a process pool from PARALLEL_THRESHOLD files on."""
    workers = jobs or min(os.cpu_count() or 1, 8)
    done = 0
    if len(todo) >= PARALLEL_THRESHOLD and workers > 1:
        stats.workers = workers
        with ProcessPoolExecutor(max_workers=workers) as pool:
            outcomes = pool.map(_process, todo, chunksize=max(8, len(todo) // (workers * 8)))
            for rel, entry in outcomes:
                results[rel] = entry
                done += 1
                if progress and done % 64 == 0:
                    progress(done, len(todo))
    else:
        for job in todo:
            rel, entry = _process(job)
            results[rel] = entry
            done += 1
            if progress and done % 64 == 0:
                progress(done, len(todo))
    if progress:
        progress(len(todo), len(todo))
    stats.read = len(todo)


def _collect(
    tree: _Tree, results: dict[str, dict], cache: FileCache, use_cache: bool, stats: ScanStats
) -> tuple[dict[str, ModuleFacts], list[FileError]]:
    """The facts per module and the files that could not be indexed; new results go into the cache."""
    index_errors: list[FileError] = [FileError(rel or ".", msg) for rel, msg in tree.errors]
    modules: dict[str, ModuleFacts] = {}
    for rel in tree.files:
        entry = results.get(rel)
        if entry is None:
            continue
        if use_cache and entry.get("status") != "error" and "size" in entry and cache.entries.get(rel) is not entry:
            cache.store(rel, entry)
        if entry["status"] == "error":
            index_errors.append(FileError(rel, entry["error"]))
        elif entry["status"] == "facts":
            stats.parsed += 1
            mod = entry["facts"]["module"]
            if mod not in modules:
                modules[mod] = ModuleFacts(rel, entry["facts"])
    if use_cache:
        cache.prune(set(tree.files))
    return modules, index_errors


class _Loaders:
    """What index resolution reads on demand: the imports of a file the prefilter skipped (``imports``)
    and a module's whole tree (``tree``, for resolving option values; also the native prover's)."""

    def __init__(self, tree: _Tree, results: dict[str, dict], cache: FileCache, use_cache: bool, stats: ScanStats):
        self.scan_tree, self.results, self.cache, self.use_cache, self.stats = tree, results, cache, use_cache, stats
        self.trees: dict[str, tuple[ast.Module, bool] | None] = {}

    def imports(self, module: str) -> dict | None:
        rel = self.scan_tree.rel_of_module.get(module)
        if rel is None:
            return None
        entry = self.results.get(rel) or {}
        if entry.get("imports_facts") is not None:
            return entry["imports_facts"]
        if entry.get("status") != "skip":
            return None
        facts = _imports_only(self.scan_tree.root_s, rel, module, rel.endswith("__init__.py"))
        self.stats.lazily_parsed += 1
        if facts is not None and self.use_cache:
            entry = dict(entry)
            entry["imports_facts"] = facts
            self.results[rel] = entry
            self.cache.store(rel, entry)
        return facts

    def tree(self, module: str) -> tuple[ast.Module, bool] | None:
        """A module's full tree, for resolving option values through it (values.py); parsed on demand."""
        if module not in self.trees:
            rel = self.scan_tree.rel_of_module.get(module)
            self.trees[module] = None
            if rel is not None:
                try:
                    with open(os.path.join(self.scan_tree.root_s, rel), "rb") as fh:
                        self.trees[module] = (parse_bytes(fh.read(), rel).tree, rel.endswith("__init__.py"))
                except (OSError, ParseFailure, RecursionError, ValueError, MemoryError):
                    self.trees[module] = None
        return self.trees[module]

    def with_path(self, module: str) -> tuple[ast.Module, bool, str] | None:
        found = self.tree(module)
        return (found[0], found[1], self.scan_tree.rel_of_module[module]) if found is not None else None


def _apply_recorded_live(index: ProjectIndex, tree: _Tree, live: dict | bool | None) -> None:
    """Run-time facts: given (``rewrite --live``), or recorded by an earlier one in ``live_facts.py``."""
    if live is None:
        recorded = [
            rel
            for rel in tree.files
            if rel == f"saq_worker/{LIVE_MODULE}" or rel.endswith(f"/saq_worker/{LIVE_MODULE}")
        ]
        live = read_live_facts(tree.root, recorded[0].rsplit("/", 1)[0]) if len(recorded) == 1 else None
    if isinstance(live, dict):
        index.live = apply_live(index, live)


def _attr_writes(tree: _Tree, loaders: _Loaders) -> Writes:
    """Every attribute write of a non-test file (the native prover's rebinding facts, index/extract.py
    attribute_writes): from the facts of a parsed file; a skipped file whose text may hold one is parsed for
    them now, once (its cache entry keeps them), only when there are verdicts to prove."""
    writes: Writes = []
    for rel in tree.files:
        entry = loaders.results.get(rel) or {}
        if entry.get("status") == "facts":
            found = entry["facts"].get("attr_writes", [])
        elif entry.get("may_write") and "attr_writes" not in entry:
            try:
                with open(os.path.join(tree.root_s, rel), "rb") as fh:
                    parsed = parse_bytes(fh.read(), rel).tree
                found = attribute_writes(parsed, tree.modules_of[rel], rel.endswith("__init__.py"))
            except (OSError, ParseFailure, RecursionError, MemoryError, ValueError):
                found = []
            entry = {**entry, "attr_writes": found}
            loaders.results[rel] = entry
            if loaders.use_cache:
                loaders.cache.store(rel, entry)
        else:
            found = entry.get("attr_writes", [])
        if found and not is_test_path(rel):
            writes += [(rel, w) for w in found]
    return writes


def _native_verdicts(
    index: ProjectIndex, tree: _Tree, loaders: _Loaders, use_cache: bool, cache_dir: Path | None
) -> None:
    """rewrite --mode native's verdict per task (docs/native.md); its prover reads the trees the scan parsed."""
    from saqmigrate.plan import _is_django
    from saqmigrate.transform.blocking import ProjectLoader
    from saqmigrate.transform.native import scan_verdicts

    index.module_loader = ProjectLoader(loaders.with_path, lambda: _attr_writes(tree, loaders))
    index.native = scan_verdicts(
        tree.root,
        index.tasks,
        index.module_loader,
        tree.rel_of_module,
        django=_is_django(index),
        cache_dir=(cache_dir or tree.root / ".saqmigrate_cache") if use_cache else None,
    )


def _save_cache(cache: FileCache, used_translations: dict[str, dict], use_cache: bool, stats: ScanStats) -> None:
    if not use_cache:
        return
    if set(cache.translations) != set(used_translations):
        cache.translations = used_translations  # keep only what this tree still needs
        cache.dirty = True
    warn = cache.save()
    if warn:
        stats.notes.append(warn)


def run_scan(
    root: Path,
    config: Config | None = None,
    *,
    use_cache: bool = True,
    cache_dir: Path | None = None,
    jobs: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    live: dict | bool | None = None,
) -> tuple[ProjectIndex, ScanStats]:
    """Discover, read (from the cache where it can), index, classify.

    ``live``: run-time facts from the probe (``rewrite --live``); None: the facts an earlier
    ``rewrite --live`` recorded in ``<worker package>/live_facts.py``, if any; False: none."""
    from saqmigrate.classify import classify

    config = config or Config()
    stats = ScanStats()
    tree = _discover(root, config)
    stats.discovered = len(tree.files)
    cache = FileCache((cache_dir or (tree.root / ".saqmigrate_cache")) / "scan.json") if use_cache else FileCache(None)
    results, todo = _from_cache(tree, cache, use_cache, stats)
    _process_all(todo, results, jobs, progress, stats)
    _follow_decorator_aliases(tree.root_s, tree.files, tree.modules_of, results)
    modules, index_errors = _collect(tree, results, cache, use_cache, stats)

    loaders = _Loaders(tree, results, cache, use_cache, stats)
    index = build_index(
        tree.root_s, modules, loaders.imports, load_tree=loaders.tree, is_module=tree.rel_of_module.__contains__
    )
    _apply_recorded_live(index, tree, live)
    stats.suppressions = {mf.rel: mf.facts.get("suppress", {}) for mf in modules.values()}
    stats.indexed_files = sorted(mf.rel for mf in modules.values())
    index.indexed_files = stats.indexed_files
    index.files_scanned = len(tree.files)
    index.files_parsed = stats.parsed
    index.errors = sorted(index_errors, key=lambda e: e.file)
    for mf in modules.values():
        for note in mf.facts.get("recovered", []):
            stats.notes.append(f"{mf.rel}: indexed with {note} rewritten for this interpreter")
    used_translations: dict[str, dict] = {}
    classify(
        index,
        config,
        suppress=stats.suppressions,
        recovered={mf.rel: mf.facts.get("recovered", []) for mf in modules.values()},
        translations=(cache, used_translations) if use_cache else None,
    )
    _native_verdicts(index, tree, loaders, use_cache, cache_dir)
    _save_cache(cache, used_translations, use_cache, stats)
    return index, stats
