"""Step 3b: link per-file facts across modules into a ProjectIndex.

Resolves references through imports, relative imports, star imports and package
re-exports; decides which decorators are Celery task decorators (apps, ``shared_task``,
aliases defined in other modules, legacy APIs); finds ``Task`` subclasses through chains
of our own base classes; resolves call targets and beat ``task`` names to tasks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypedDict

from saqmigrate.index.extract import (
    CLASS_ATTRS,
    CELERY_CLS,
    FACTS_VERSION,
    LEGACY_PERIODIC,
    LEGACY_TASK,
    SHARED_TASK,
    TASK_CLS,
)
from saqmigrate.index.extract import _jsonable
from saqmigrate.index.facts import (
    AliasFact,
    AppAttrSet,
    CallFact,
    DecoratedFact,
    DecoratorCandidate,
    DecoratorFactoryFact,
    Facts,
    FlaskConfigFact,
    ItemFact,
    Options,
    SourceFact,
    Value,
)
from saqmigrate.index.model import App, Call, Param, ProjectIndex, Schedule, Setting, Task, dynamic, is_dynamic
from saqmigrate.index.values import Resolved, Unresolved, Values, _Class

HOOK_METHODS = ("on_failure", "on_success", "on_retry", "after_return", "before_start", "__call__")
#: the class attributes extract records that are task options (not ``task_cls`` / ``run_every``, which are
#: an app's or a periodic task's)
TASK_OPTION_ATTRS = CLASS_ATTRS - {"task_cls", "run_every"}
CONF_TASK_DEFAULTS = {
    "task_time_limit": "time_limit",
    "task_soft_time_limit": "soft_time_limit",
    "task_acks_late": "acks_late",
    "task_ignore_result": "ignore_result",
    "task_default_rate_limit": "rate_limit",
    "task_serializer": "serializer",
    "task_track_started": "track_started",
    "task_reject_on_worker_lost": "reject_on_worker_lost",
    "result_expires": "result_expires",
}
# app settings the analysis reads from a config source (the rest of Celery's settings do not change the rewrite)
USED_SETTINGS = set(CONF_TASK_DEFAULTS) | {
    "task_routes",
    "task_default_queue",
    "timezone",
    "enable_utc",
    "task_serializer",
    "result_serializer",
    "accept_content",
    "task_always_eager",
    "beat_scheduler",
    "broker_url",
    "result_expires",
}
# settings a config source that cannot be read may set and that change the generated code: tasks that take
# them from the app (no option of their own) stay on Celery (SM115), as for any value that cannot be resolved
# (acks_late, reject_on_worker_lost: notes only; track_started: the runtime asks the Celery app at run time)
TRANSLATION_SETTINGS = {
    "task_time_limit",
    "task_soft_time_limit",
    "task_ignore_result",
    "task_default_rate_limit",
    "task_serializer",
    "result_expires",
    "task_routes",
    "task_default_queue",
}
# raw_name of the settings a config source that cannot be read may set: "<source> (cannot be read statically: why)"
UNREADABLE_MARK = "(cannot be read statically:"
# options whose values rewrite uses: a name or expression in them is resolved (values.py) or reported
VALUE_OPTIONS = {
    "name",
    "queue",
    "routing_key",
    "exchange",
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
    "ignore_result",
    "acks_late",
    "serializer",
    "priority",
    "expires",
    "reject_on_worker_lost",
    "track_started",
    "result_expires",
}
EXCEPTION_OPTIONS = {"autoretry_for", "dont_autoretry_for", "throws"}
RESOLVED_KEY = "__resolved__"  # options[RESOLVED_KEY][option] = {"src", "env", "origin"}: how a value was found
OTHER_TASK_LIBS = (
    "huey",
    "dramatiq",
    "taskiq",
    "rq",
    "arq",
    "prefect",
    "airflow",
    "procrastinate",
    "saq",
    "django_q",
    "kombu",
    "invoke",
    "luigi",
    "dagster",
    "ray",
    "faust",
    "nameko",
    "pytest",
)
APPISH = {"app", "celery", "celery_app", "capp", "celeryapp", "worker", "application"}
# the facts of a module the resolver does not know (read only)
_NO_FACTS: Facts = {
    "v": FACTS_VERSION,
    "module": "",
    "is_package": False,
    "imports": {},
    "star_imports": [],
    "defs": {},
}


@dataclass
class ModuleFacts:
    rel: str
    facts: Facts


@dataclass
class Resolver:
    modules: dict[str, ModuleFacts]
    lazy: Callable[[str], Facts | None]  # module name -> imports-only facts for unparsed files
    project_uses_celery: bool = False
    _cache: dict[str, Facts | None] = field(default_factory=dict)

    def facts(self, module: str) -> Facts | None:
        mf = self.modules.get(module)
        if mf is not None:
            return mf.facts
        if module in self._cache:
            return self._cache[module]
        f = self.lazy(module)
        self._cache[module] = f
        return f

    def _split(self, ref: str) -> tuple[str, Facts, str, str] | None:
        """Longest known module prefix of ``ref``: (module, its facts, symbol, rest) or None."""
        parts = ref.split(".")
        for i in range(len(parts) - 1, 0, -1):
            mod = ".".join(parts[:i])
            facts = self.facts(mod)
            if facts is not None:
                return mod, facts, parts[i], ".".join(parts[i + 1 :])
        return None

    def resolve(self, ref: str | None, depth: int = 0) -> tuple[str, str, str] | None:
        """ref -> (module, symbol, rest) where ``symbol`` is defined in ``module``; None if outside the tree."""
        if not ref or ref.startswith("?") or depth > 12:
            return None
        split = self._split(ref)
        if split is None:
            return None
        mod, facts, sym, rest = split
        suffix = f".{rest}" if rest else ""
        target = facts.get("imports", {}).get(sym)
        if target and target != ref:
            return self.resolve(target + suffix, depth + 1)
        if sym in facts.get("defs", {}):
            return (mod, sym, rest)
        if self.facts(f"{mod}.{sym}") is not None:  # a submodule: pkg.tasks where pkg/tasks.py exists
            return (f"{mod}.{sym}", "", "") if not rest else self.resolve(f"{mod}.{sym}.{rest}", depth + 1)
        for star in facts.get("star_imports", []):
            r = self.resolve(f"{star}.{sym}{suffix}", depth + 1)
            if r:
                return r
        return None

    def canonical(self, ref: str | None, depth: int = 0) -> str | None:
        """Follow imports until the ref leaves the project (e.g. becomes ``celery.shared_task``)."""
        if not ref or ref.startswith("?") or depth > 12:
            return ref
        split = self._split(ref)
        if split is None:
            return ref
        _, facts, sym, rest = split
        target = facts.get("imports", {}).get(sym)
        if target and target != ref:
            return self.canonical(target + (f".{rest}" if rest else ""), depth + 1)
        return ref


def _django_facts(modules: dict[str, ModuleFacts]) -> dict[str, Any]:
    """What makes the project a Django project, and its statically visible settings module."""
    settings = sorted({v for mf in modules.values() for v in mf.facts.get("django_settings", []) if isinstance(v, str)})
    signals = []
    if settings:
        signals.append("DJANGO_SETTINGS_MODULE is set")
    if any(mf.facts.get("uses_django") for mf in modules.values()):
        signals.append("django is imported")
    out: dict[str, Any] = {"signals": signals}
    if len(settings) == 1:
        out["settings_module"] = settings[0]
    elif settings:
        out["settings_modules"] = settings  # several: none is chosen (each environment may use another)
    return out


def _module_of(ref: str) -> str:
    return ref.rsplit(".", 1)[0] if "." in ref else ""


def _gen_name(mod: str, fn: str) -> str:
    return f"{mod}.{fn}" if mod else fn


class ConfigSource(TypedDict):
    """A config_from_object / conf.update source of an app, read with the settings (_config_source_settings)."""

    app: App | None  # None: Celery's default app (no Celery(...) in the project)
    attr: str
    module: str
    rel: str
    line: int
    source: SourceFact
    entry: dict[str, Any]  # the app's config_from_object entry (gets "read" / "unresolved")


class SettingMeta(TypedDict, total=False):
    """Where a setting's value comes from (_in_effect decides which are in effect)."""

    layer: str  # "changes" | "source"
    app: str | None
    env: list[str]
    source: tuple[str, int] | None  # (module, line) of its config source
    placeholder: bool  # a config source that cannot be read


DecoratorKind = tuple[str, str | None, Options]  # (kind, app reference, alias options)
ClassInfo = tuple[bool, Options, list[str]]  # (is a Celery Task subclass, inherited option attrs, hook methods)
Factory = tuple[str, str, DecoratorFactoryFact, DecoratorKind]  # (module, name, facts, what it applies)


def build_index(
    root: str,
    modules: dict[str, ModuleFacts],
    lazy: Callable[[str], Facts | None],
    load_tree: Callable[[str], Any] | None = None,
    is_module: Callable[[str], bool] | None = None,
) -> ProjectIndex:
    """``load_tree``/``is_module``: parse any module of the tree on demand, so option values can be
    resolved through constants modules, re-exports and Django settings (``values.py``)."""
    return _IndexBuilder(root, modules, lazy, load_tree, is_module).build()


class _IndexBuilder:
    """Links every module's facts, in Celery's order: apps and their config, app settings (task defaults),
    tasks (decorated, registered, classes), then the schedules and calls that name them."""

    def __init__(
        self,
        root: str,
        modules: dict[str, ModuleFacts],
        lazy: Callable[[str], Facts | None],
        load_tree: Callable[[str], Any] | None,
        is_module: Callable[[str], bool] | None,
    ) -> None:
        self.modules = modules
        self.res = Resolver(
            modules, lazy, project_uses_celery=any(m.facts.get("uses_celery") for m in modules.values())
        )
        self.index = ProjectIndex(root=root)
        self.index.django = _django_facts(modules)
        self.values = (
            Values(load_tree, is_module or (lambda m: m in modules), self.index.django.get("settings_module"))
            if load_tree is not None
            else None
        )
        self.why_unresolved: dict[tuple[str, str], str] = {}  # (module, source) -> reason, for findings
        self.apps: dict[str, App] = {}
        self.config_sources: list[ConfigSource] = []  # read below, with the settings
        self.class_cache: dict[str, ClassInfo] = {}
        self.conf_defaults: Options = {}
        self.tasks: list[Task] = []
        self.symbol_to_task: dict[tuple[str, str], Task] = {}
        self.by_wrapper: dict[str, list[Task]] = {}  # tasks named after a factory's wrapper (no functools.wraps)

    def build(self) -> ProjectIndex:
        self.collect_apps()
        self.index.apps = sorted(self.apps.values(), key=lambda a: (a.file, a.line))
        self.collect_settings()
        for mod, mf in self.modules.items():
            self.decorated_tasks(mod, mf)
            self.registered_tasks(mod, mf)
            self.class_tasks(mod, mf)
        self.name_shared_wrappers()
        self.tasks.sort(key=lambda t: (t.file, t.line, t.function))
        self.record_resolution()
        self.index.tasks = self.tasks
        self.index.schedules = self.collect_schedules()
        self.index.calls = self.collect_calls()
        return self.index

    def resolve_opts(self, mod: str, options: Options) -> Options:
        """Dynamic option values replaced by what Python would bind them to, where that is exact."""
        values = self.values
        if values is None or not options:
            return options
        out = dict(options)
        resolved = dict(options.get(RESOLVED_KEY) or {})
        for k, v in options.items():
            if k not in VALUE_OPTIONS or not is_dynamic(v):
                continue
            src = v["dynamic"]
            try:
                if k in EXCEPTION_OPTIONS:
                    out[k] = values.qualify_exceptions(mod, src)
                    resolved[k] = {"src": src, "env": []}
                else:
                    r = values.expr(mod, src)
                    out[k] = _jsonable(r.value)
                    resolved[k] = {"src": src, "env": r.env, "origin": r.origin}
            except Unresolved as exc:
                self.why_unresolved[(mod, src)] = str(exc)
        if resolved:
            out[RESOLVED_KEY] = resolved
        return out

    # apps
    def collect_apps(self) -> None:
        apps = self.apps
        for mod, mf in self.modules.items():
            for a in mf.facts.get("apps", []):
                app = App(
                    name=a["name"],
                    file=mf.rel,
                    line=a["line"],
                    module=mod,
                    kind=a["kind"],
                    main=a["main"],
                    task_cls=a["task_cls"],
                    options=a["options"],
                    in_function=bool(a.get("in_function")),
                )
                apps[f"{mod}.{a['name']}"] = app
        self.instances_of_subclasses()
        for mod, mf in self.modules.items():
            for s in mf.facts.get("app_attr_sets", []):
                self.configure_app(mod, mf, s)

    def instances_of_subclasses(self) -> None:
        """Instances of Celery subclasses defined in other modules: celery = IndicoCelery('indico')."""
        apps, res = self.apps, self.res
        subclasses = {key for key, a in apps.items() if a.kind == "subclass"}
        if not subclasses:
            return
        for mod, mf in self.modules.items():
            for var, callee in mf.facts.get("assign_calls", {}).items():
                r = res.resolve(res.canonical(callee) or callee)
                if r and not r[2] and f"{r[0]}.{r[1]}" in subclasses and f"{mod}.{var}" not in apps:
                    apps[f"{mod}.{var}"] = App(
                        name=var,
                        file=mf.rel,
                        line=mf.facts.get("assign_lines", {}).get(var, 1),
                        module=mod,
                        kind="instance",
                        main=None,
                        task_cls=None,
                        options={"class": f"{r[0]}.{r[1]}"},
                    )

    def configure_app(self, mod: str, mf: ModuleFacts, s: AppAttrSet) -> None:
        """``app.Task = X``, ``config_from_object``, ``conf.update``: on the app they configure."""
        apps, modules = self.apps, self.modules
        target = self.res.resolve(s["app"]) if s["app"] else None
        key = f"{target[0]}.{target[1]}" if target else None
        if (
            target
            and key
            and key not in apps
            and s["attr"] == "config_from_object"
            and not target[2]
            and target[0] in modules
        ):
            # `app = celery_class('mayan')` (a factory the scan cannot follow) configured like a Celery app
            owner = modules[target[0]]
            apps[key] = App(
                name=target[1],
                file=owner.rel,
                line=owner.facts.get("assign_lines", {}).get(target[1], s["line"]),
                module=target[0],
                kind="instance",
                main=None,
                task_cls=None,
                options={"inferred_from": "config_from_object"},
            )
        app = apps.get(key) if key else None
        if app is None and isinstance(s["app"], str) and s["app"].startswith("?"):
            app = apps.get(f"{mod}.{s['app'][1:]}")  # an app local to the function that configures it
        if app is None and len(apps) == 1:
            app = next(iter(apps.values()))
        if s["attr"] == "Task":
            if app is not None:
                app.task_cls = s["value"]
            return
        if app is None:
            if not apps and s["value"].get("source"):
                # no Celery(...) in the project: Celery's default app (current_app) is the one configured
                self.config_sources.append(
                    {
                        "app": None,
                        "attr": s["attr"],
                        "module": mod,
                        "rel": mf.rel,
                        "line": s["value"].get("line", s["line"]),
                        "source": s["value"]["source"],
                        "entry": {k: v for k, v in s["value"].items() if k != "source"},
                    }
                )
            return
        value: dict[str, Any] = dict(s["value"])
        source = value.pop("source", None)
        if s["attr"] == "conf.update":
            value = {"obj": dynamic(source["src"]) if source else None, "namespace": None, **value}
        entry = {**value, "file": mf.rel}
        app.config_from_object.append(entry)
        if source is not None:
            self.config_sources.append(
                {
                    "app": app,
                    "attr": s["attr"],
                    "module": mod,
                    "rel": mf.rel,
                    "line": value.get("line", s["line"]),
                    "source": source,
                    "entry": entry,
                }
            )

    def app_key(self, ref: str | None, mod: str) -> str | None:
        """The app a ``conf.x = v`` / ``conf.update`` changes (None: not known)."""
        if not ref:
            return None
        r = self.res.resolve(ref)
        if r and f"{r[0]}.{r[1]}" in self.apps:
            return f"{r[0]}.{r[1]}"
        if ref.startswith("?") and f"{mod}.{ref[1:]}" in self.apps:
            return f"{mod}.{ref[1:]}"
        return None

    def is_app(self, base_ref: str, facts: Facts) -> bool:
        res = self.res
        if base_ref in CELERY_CLS or res.facts(base_ref) is not None:
            return False  # the class itself, or a module (``proj.celery``), is not an app
        r = res.resolve(base_ref)
        if r:
            mod, sym, rest = r
            if rest:
                return False
            if f"{mod}.{sym}" in self.apps:
                return True
            mfacts = res.facts(mod) or _NO_FACTS
            call = mfacts.get("assign_calls", {}).get(sym)
            if call:
                c = res.canonical(call) or call
                if c in CELERY_CLS or "celery" in c.lower():
                    return True
                cr = res.resolve(c)
                if cr and cr[1] in (res.facts(cr[0]) or _NO_FACTS).get("factories", []):
                    return True
                if any(c.split(".")[0].lstrip("?") == lib for lib in OTHER_TASK_LIBS):
                    return False
                return sym.lower() in APPISH or "celery" in sym.lower()
            return sym.lower() in APPISH or "celery" in sym.lower()
        # outside the tree (or unknown): judge by name and by the importing module
        head = base_ref.lstrip("?")
        top = head.split(".")[0]
        if top in OTHER_TASK_LIBS:
            return False
        if "celery" in head.lower():
            return True
        last = head.rsplit(".", 1)[-1].lower()
        return (last in APPISH) and bool(facts.get("uses_celery") or res.project_uses_celery)

    # task decorators
    def alias_of(self, ref: str) -> AliasFact | None:
        r = self.res.resolve(ref)
        if not r or r[2]:
            return None
        facts = self.res.facts(r[0]) or _NO_FACTS
        return facts.get("aliases", {}).get(r[1])

    def classify_decorator(self, ref: str, facts: Facts, depth: int = 0) -> DecoratorKind | None:
        """-> (kind, app_ref, alias_options) if ref is a Celery task decorator."""
        c = self.res.canonical(ref) or ref
        if c in SHARED_TASK:
            return ("shared_task", None, {})
        if c in LEGACY_PERIODIC:
            return ("periodic_task", None, {})
        if c in LEGACY_TASK:
            return ("legacy_task", None, {})
        if c.endswith(".periodic_task") and self.is_app(c[: -len(".periodic_task")], facts):
            return ("periodic_task", c[: -len(".periodic_task")], {})
        if depth < 3:
            alias = self.alias_of(c)
            if alias:
                inner = self.classify_decorator(alias["ref"], self.res.facts(_module_of(c)) or facts, depth + 1)
                if inner:
                    return ("alias", inner[1], {**inner[2], **alias.get("options", {})})
                return None
        if c.endswith(".task") and self.is_app(c[: -len(".task")], facts):
            return ("app_task", c[: -len(".task")], {})
        return None

    def chained_factory(self, fmod: str, f: DecoratorFactoryFact, depth: int = 0) -> Factory | None:
        """A pass-through factory that forwards to another pass-through factory
        (``def ingest(*a, **kw): return gracedb.task(*a, **kw, queue="ingest")``): one factory with
        both's options, as Python passes them (the outer's go into the inner's ``**kwargs``)."""
        r = self.res.resolve(f["task_ref"]) if depth < 3 and f.get("either") else None
        if not r or r[2]:
            return None
        gfacts = self.res.facts(r[0]) or _NO_FACTS
        g = gfacts.get("decorator_factories", {}).get(r[1])
        if not g or not g.get("either"):
            return None
        kind = self.classify_decorator(g["task_ref"], gfacts)
        found: Factory | None = (r[0], r[1], g, kind) if kind else self.chained_factory(r[0], g, depth + 1)
        if found is None:
            return None
        gmod, _, g, kind = found
        g_mods = g.get("fixed_modules", {})
        outer, inner = f["fixed"], g["fixed"]
        g_over, g_clash = set(g.get("over", [])), set(g.get("clash", []))
        fixed: Options = {}
        modules: dict[str, str] = {}
        clash = list(f.get("clash", []))  # the call's keyword beside the outer's: TypeError in the outer
        over = [k for k in f.get("over", []) if k not in inner]
        for k, v in outer.items():
            fixed[k], modules[k] = v, fmod
        for k, v in inner.items():
            if k in g_over or k not in outer:  # the inner's wins, or only the inner gives it
                fixed[k], modules[k] = v, g_mods.get(k, gmod)
                if k in g_over:
                    over.append(k)
                elif k in g_clash:
                    clash.append(k)
            elif k in g_clash:  # both give it, beside the inner's **kwargs: TypeError (reported when the call does too)
                clash.append(k)
        merged: DecoratorFactoryFact = {
            **f,
            "task_ref": g["task_ref"],
            "task_src": g["task_src"],
            "fixed": fixed,
            "clash": sorted(set(clash)),
            "over": sorted(set(over)),
            "fixed_modules": modules,
        }
        return (gmod, found[1], merged, kind)

    def factory_of(self, cand: DecoratorCandidate) -> Factory | None:
        """A decorator factory (extract's ``decorator_factories``) behind a decorator, used as it must be
        (``@retryable_task(...)`` for a class or options factory, ``@periodic`` for one taking the function):
        -> (its module, its name, its facts, the classification of the Celery decorator it applies)."""
        r = self.res.resolve(cand["ref"])
        if not r or r[2]:
            return None
        ffacts = self.res.facts(r[0]) or _NO_FACTS
        f = ffacts.get("decorator_factories", {}).get(r[1])
        if not f:
            return None
        if f.get("either"):  # pass-through: @f(...) forwards options; @f(x) hands Celery a non-function (TypeError)
            if cand.get("is_call") and cand["args"]:
                return None
        elif bool(f.get("called")) != bool(cand.get("is_call")):
            return None
        inner = self.classify_decorator(f["task_ref"], ffacts)
        if inner:
            return (r[0], r[1], f, inner)
        chained = self.chained_factory(r[0], f)
        return (r[0], r[1], chained[2], chained[3]) if chained else None

    def factory_options(
        self, fmod: str, f: DecoratorFactoryFact, alias_opts: Options, cand: DecoratorCandidate, mod: str
    ) -> tuple[Options, Options, list[str]]:
        """(options as Celery receives them, the part written inside the factory, the options both
        give where Python raises TypeError). The factory's own literals (and its parameters' defaults)
        are merged under what the decorator call passes, or over it where the factory's code says so."""
        call_kw, call_pos = cand["options"], cand["args"]
        inside = {**alias_opts, **f["fixed"]}
        given: Options = {}
        for opt, p in f["params"].items():
            if p["param"] in call_kw:
                given[opt] = call_kw[p["param"]]
            elif (index := p["index"]) is not None and index < len(call_pos):
                given[opt] = call_pos[index]
            elif p.get("has_default"):
                inside[opt] = p["default"]
        if f.get("pass_kwargs"):
            consumed = set(f.get("own_params", {}))  # keywords Python binds to the factory's named parameters
            given.update({k: v for k, v in call_kw.items() if k not in consumed})
        modules = f.get("fixed_modules") or {}
        if modules:  # a chain of factories: each value as Python binds it in the module that writes it
            parts: dict[str, Options] = {}
            for k, v in inside.items():
                parts.setdefault(modules.get(k, fmod), {})[k] = v
            inside = {}
            found_in: Options = {}
            for m, opts in parts.items():
                got = self.resolve_opts(m, opts)
                found_in.update(got.pop(RESOLVED_KEY, None) or {})
                inside.update(got)
            if found_in:
                inside[RESOLVED_KEY] = found_in
        else:
            inside = self.resolve_opts(fmod, inside)
        given = self.resolve_opts(mod, given)
        found = {**(inside.pop(RESOLVED_KEY, None) or {}), **(given.pop(RESOLVED_KEY, None) or {})}
        over = {k: inside[k] for k in f.get("over", []) if k in inside}
        clash = [k for k in f.get("clash", []) if k in given]
        out = {**inside, **given, **over}
        if found:
            out[RESOLVED_KEY] = found
        return out, inside, clash

    # Task subclasses
    def class_info(self, mod: str, name: str, depth: int = 0) -> ClassInfo:
        """(is a celery Task subclass, inherited option attrs, hook methods) for class ``mod.name``."""
        key = f"{mod}.{name}"
        if key in self.class_cache:
            return self.class_cache[key]
        self.class_cache[key] = (False, {}, [])
        facts = self.res.facts(mod) or _NO_FACTS
        cls = next((c for c in facts.get("classes", []) if c["qualname"] == name or c["name"] == name), None)
        if cls is None or depth > 10:
            return self.class_cache[key]
        is_task = False
        attrs: Options = {}
        hooks: list[str] = []
        for b in cls["bases"]:
            c = self.res.canonical(b) or b
            if c in TASK_CLS:
                is_task = True
                continue
            r = self.res.resolve(c)
            if r and not r[2]:
                bt, battrs, bhooks = self.class_info(r[0], r[1], depth + 1)
                if bt:
                    is_task = True
                    attrs.update(battrs)
                    hooks.extend(h for h in bhooks if h not in hooks)
        own = {k: v for k, v in cls["attrs"].items() if k in TASK_OPTION_ATTRS}
        if is_task:  # values are resolved only for Celery Task classes (library classes have `name = ...` too)
            own = self.resolve_opts(mod, own)
        if RESOLVED_KEY in own and RESOLVED_KEY in attrs:
            own[RESOLVED_KEY] = {**attrs[RESOLVED_KEY], **own[RESOLVED_KEY]}
        attrs.update(own)
        hooks.extend(h for h in HOOK_METHODS if h in cls["methods"] and h not in hooks)
        self.class_cache[key] = (is_task, attrs, hooks)
        return self.class_cache[key]

    @staticmethod
    def resolve_src(src: Value, facts: Facts) -> str | None:
        if isinstance(src, dict) and "dynamic" in src:
            src = src["dynamic"]
        if not isinstance(src, str):
            return None
        if ":" in src:  # 'proj.base:BaseTask', or a reference extract.py resolved (`app.Task = ContextTask`)
            m, _, n = src.partition(":")
            return f"{m}.{n}"
        head, _, rest = src.partition(".")
        imports = facts.get("imports", {})
        if head in imports:
            return imports[head] + (f".{rest}" if rest else "")
        if head in facts.get("defs", {}):
            return f"{facts['module']}.{src}"
        return src if "." in src else None

    def base_options(self, base_ref: str | None) -> tuple[Options, list[str], bool]:
        if not base_ref:
            return {}, [], False
        r = self.res.resolve(base_ref)
        if not r or r[2]:
            return {}, [], False
        is_task, attrs, hooks = self.class_info(r[0], r[1])
        return dict(attrs), list(hooks), is_task

    def app_task_cls_options(self, app_ref: str | None) -> tuple[Options, list[str]]:
        app = None
        if app_ref:
            r = self.res.resolve(app_ref)
            if r:
                app = self.apps.get(f"{r[0]}.{r[1]}")
        if app is None and len(self.apps) == 1:
            app = next(iter(self.apps.values()))
        if app is None or app.task_cls is None:
            return {}, []
        app_facts = self.res.facts(app.module) or _NO_FACTS
        ref = self.resolve_src(app.task_cls, app_facts)
        attrs, hooks, _ = self.base_options(ref)
        return attrs, hooks

    # app-level settings
    def collect_settings(self) -> None:
        """Every place Celery reads app settings from, in Celery's precedence; task defaults from them."""
        values = self.values
        entries: list[tuple[Setting, SettingMeta]] = []
        for mod, mf in self.modules.items():
            for s in mf.facts.get("settings", []):
                value, env = s["value"], []
                if is_dynamic(value) and s.get("why"):
                    self.why_unresolved[(mod, value["dynamic"])] = s["why"]
                elif is_dynamic(value) and values is not None:
                    try:
                        r = values.expr(mod, value["dynamic"])
                        value, env = _jsonable(r.value), r.env
                    except Unresolved as exc:
                        self.why_unresolved[(mod, value["dynamic"])] = str(exc)
                owner = self.app_key(s.get("app"), mod) if s.get("layer") == "changes" else None
                entries.append(
                    (
                        Setting(
                            name=s["name"], raw_name=s["raw_name"], value=value, file=mf.rel, line=s["line"], module=mod
                        ),
                        {"layer": s.get("layer", "source"), "app": owner, "env": env, "source": None},
                    )
                )
        if values is not None:
            entries.extend(
                _config_source_settings(self.config_sources, self.modules, values, self.apps, self.why_unresolved)
            )
        settings = _in_effect(entries, len([a for a in self.apps.values() if a.kind == "instance"]))
        self.index.settings = sorted((st for st, _ in settings), key=lambda s: (s.file, s.line))
        self.conf_defaults = _task_defaults(settings, self.why_unresolved)

    # tasks
    def decorated_tasks(self, mod: str, mf: ModuleFacts) -> None:
        for d in mf.facts.get("decorated", []):
            if not d.get(
                "factory"
            ):  # the wrapper inside a decorator factory: each function decorated with it is a task
                before = len(self.tasks)
                self.decorated_task(mod, mf, d)
                if len(self.tasks) == before:
                    self.unfollowed_decorator(mf, d)

    def unfollowed_decorator(self, mf: ModuleFacts, d: DecoratedFact) -> None:
        """A function that is not a task, decorated with a project function or class (or an instance of
        one) whose code applies a Celery task decorator: the scan cannot follow how, so it says so (SM125)."""
        for cand in d["decorators"]:
            builder = self.task_builder(cand["ref"])
            if builder:
                self.index.unfollowed.append(
                    {
                        "file": mf.rel,
                        "line": cand["line"],
                        "function": f"{mf.facts['module']}.{d['function']}",
                        "decorator": cand["src"],
                        "builder": builder,
                    }
                )
                return

    def task_builder(self, ref: str, depth: int = 0) -> str | None:
        """``module.name`` of the project function or class ``ref`` names (an instance: its class; a
        class: it or a project base class) whose body applies a Celery task decorator or a known factory."""
        r = self.res.resolve(ref)
        if not r or r[2] or depth > 5:
            return None
        mod, name = r[0], r[1]
        facts = self.res.facts(mod)
        if not facts:
            return None
        factory = facts.get("decorator_factories", {}).get(name)
        # a factory reached here is used in a way that makes no task (@periodic() for def periodic(fn), a
        # chain the scan cannot follow): the function is still probably meant as a task
        for b in [factory["task_ref"]] if factory else facts.get("task_builders", {}).get(name, []):
            if self.classify_decorator(b, facts):
                return f"{mod}.{name}"
            rb = self.res.resolve(b)
            if rb and not rb[2] and rb[1] in (self.res.facts(rb[0]) or _NO_FACTS).get("decorator_factories", {}):
                return f"{mod}.{name}"
        callee = facts.get("assign_calls", {}).get(name)
        if callee and depth == 0:  # handler = Registry(): the instance is the decorator
            return self.task_builder(callee, depth + 1)
        cls = next((c for c in facts.get("classes", []) if c["qualname"] == name and not c["nested"]), None)
        for base in cls["bases"] if cls else []:
            found = self.task_builder(self.res.canonical(base) or base, depth + 1)
            if found:
                return found
        return None

    def task_decorator(
        self, d: DecoratedFact, facts: Facts
    ) -> tuple[DecoratorCandidate, DecoratorKind, Factory | None, list[str]] | None:
        """The first of a function's decorators that makes it a Celery task (directly or through a
        decorator factory), and the source of the others."""
        found = None
        other = []
        factory = None
        for cand in d["decorators"]:
            kind = self.classify_decorator(cand["ref"], facts) if found is None else None
            if not kind and found is None:
                factory = self.factory_of(cand)
                kind = ("factory", factory[3][1], factory[3][2]) if factory else None
            if kind and found is None:
                found = (cand, kind)
            else:
                other.append(cand["src"])
        if not found:
            return None
        return found[0], found[1], factory, other

    def decorated_task(self, mod: str, mf: ModuleFacts, d: DecoratedFact) -> None:
        facts = mf.facts
        decorator = self.task_decorator(d, facts)
        if decorator is None:
            return
        cand, (kind, app_ref, alias_opts), factory, other = decorator
        base_facts = facts
        if factory:
            fmod, fname, f, _ = factory
            options, inside, clash = self.factory_options(fmod, f, alias_opts, cand, mod)
            if "base" in inside and "base" not in cand["options"]:
                base_facts = self.res.facts(fmod) or facts
        else:
            options = self.resolve_opts(mod, {**alias_opts, **cand["options"]})
        name_opt = options.get("name")
        name: str | None
        if isinstance(name_opt, str):
            name = name_opt
        elif name_opt is None and factory and f.get("named_after") == "wrapper":
            name = _gen_name(fmod, f["wrapper"] or "")  # Celery names the task after the wrapper it was given
        elif name_opt is None:
            name = _gen_name(mod, d["name"])
        else:
            name = None
        base_ref = self.resolve_src(options.get("base"), base_facts) if "base" in options else None
        inherited, hooks, _ = self.base_options(base_ref)
        if not base_ref:
            inherited, hooks = self.app_task_cls_options(app_ref)
        inherited = _over_defaults(self.conf_defaults, inherited)
        # @shared_task(on_failure=f): Celery makes f a method of the task's class, a hook like a base class's
        hooks = [*hooks, *(h for h in HOOK_METHODS if h in options and h not in hooks)]
        options = {k: v for k, v in options.items() if k not in HOOK_METHODS}
        bind = options.get("bind") is True
        params = [Param(**p) for p in d["params"]]
        if bind and params:
            params = params[1:]
        t = Task(
            name=name,
            function=d["function"],
            file=mf.rel,
            line=d["line"],
            decorator_line=cand["line"],
            module=mod,
            kind=kind,
            decorator=cand["src"],
            app=app_ref,
            options=options,
            bind=bind,
            is_async=d["is_async"],
            params=params,
            base=options.get("base"),
            nested=d["nested"],
            in_loop=d["in_loop"],
            features=dict(d["features"])
            if bind
            else {**d["features"], "request_attrs": [], "self_retry": False, "update_state": False},
            stacked=other,
            end_line=d["end_line"],
            inherited_options=inherited,
            hooks=hooks,
        )
        if factory:
            t.features = {**t.features, "factory": f"{fmod}.{fname}"}
            if clash:  # Celery never gets this task: importing the module raises; stays on Celery
                t.features["option_clash"] = {
                    k: f"TypeError at import: {cand['src']}(...) and {fmod}.{fname} both pass {k}= "
                    f"(Python's 'got multiple values for keyword argument {k!r}'); fix one of them"
                    for k in clash
                }
            if name_opt is None and f.get("named_after") == "wrapper":
                self.by_wrapper.setdefault(f"{fmod}.{fname}", []).append(t)
        self.tasks.append(t)
        if not d["nested"]:
            self.symbol_to_task[(mod, d["function"])] = t

    def registered_tasks(self, mod: str, mf: ModuleFacts) -> None:
        """``app.task(fn)``: the task is the registered function."""
        res, facts = self.res, mf.facts
        for reg in facts.get("registrations", []):
            if reg.get("class_instance") or reg.get("factory"):
                continue  # factory: the call inside a decorator factory, made once per decorated function
            kind_info = self.classify_decorator(reg["ref"], facts)
            if not kind_info:
                continue
            fn_ref = reg["fn"]
            r = res.resolve(fn_ref) if isinstance(fn_ref, str) else None
            fn_facts = res.facts(r[0]) if r else None
            fn = (fn_facts or _NO_FACTS).get("functions", {}).get(r[1]) if r else None
            options = self.resolve_opts(mod, {**kind_info[2], **reg["options"]})
            name_opt = options.get("name")
            fn_name = r[1] if r else str(reg["fn_src"]).rsplit(".", 1)[-1]
            fn_mod = r[0] if r else mod
            name = name_opt if isinstance(name_opt, str) else (_gen_name(fn_mod, fn_name) if name_opt is None else None)
            bind = options.get("bind") is True
            params = [Param(**p) for p in (fn["params"] if fn else [])]
            if bind and params:
                params = params[1:]
            t = Task(
                name=name,
                function=fn_name,
                file=(res.modules[fn_mod].rel if fn_mod in res.modules else mf.rel),
                line=fn["line"] if fn else reg["line"],
                decorator_line=reg["line"],
                module=fn_mod,
                kind="registration",
                decorator=reg["ref"].rsplit(".", 1)[-1] if reg["ref"] else "",
                app=kind_info[1],
                options=options,
                bind=bind,
                is_async=fn["is_async"] if fn else False,
                params=params,
                nested=reg["nested"],
                in_loop=reg["in_loop"],
                features=dict(fn["features"]) if fn else {},
                end_line=fn["end_line"] if fn else 0,
                inherited_options=dict(self.conf_defaults),
            )
            t.features = {**t.features, "registered_at": f"{mf.rel}:{reg['line']}"}
            self.tasks.append(t)
            if bound := reg["bound"]:
                self.symbol_to_task[(mod, bound)] = t
            if r:
                self.symbol_to_task.setdefault((r[0], r[1]), t)

    def class_tasks(self, mod: str, mf: ModuleFacts) -> None:
        """``class X(Task)`` with a ``run`` method (not abstract)."""
        for cls in mf.facts.get("classes", []):
            is_task, attrs, hooks = self.class_info(mod, cls["qualname"])
            if not is_task or "run" not in cls["methods"] or cls["attrs"].get("abstract") is True:
                continue
            run = cls["methods"]["run"]
            name_attr = cls["attrs"].get("name")
            name = (
                name_attr
                if isinstance(name_attr, str)
                else (_gen_name(mod, cls["name"]) if name_attr is None else None)
            )
            options = {k: v for k, v in attrs.items() if k != "abstract"}
            t = Task(
                name=name,
                function=f"{cls['qualname']}.run",
                file=mf.rel,
                line=cls["line"],
                decorator_line=None,
                module=mod,
                kind="class",
                decorator="",
                options=options,
                bind=True,
                is_async=run["is_async"],
                params=[Param(**p) for p in run["params"]],
                base=cls["bases"],
                nested=cls["nested"],
                in_loop=cls["in_loop"],
                features=dict(run["features"]),
                end_line=cls["end_line"],
                inherited_options=dict(self.conf_defaults),
                hooks=hooks,
            )
            self.tasks.append(t)
            self.symbol_to_task[(mod, cls["qualname"])] = t

    def name_shared_wrappers(self) -> None:
        for factory_ref, named_alike in self.by_wrapper.items():
            if len(named_alike) > 1:
                # Celery registers the first under <factory module>.<wrapper>; the others get that same task back
                shared = named_alike[0].name
                fns = ", ".join(sorted(f"{t.module}.{t.function}" for t in named_alike))
                for t in named_alike:
                    t.name = None
                    t.options = {
                        **t.options,
                        "name": dynamic(
                            f"{shared}: {factory_ref} gives its wrapper no functools.wraps, so {fns} all get this name "
                            "and Celery keeps only the first one registered"
                        ),
                    }

    def record_resolution(self) -> None:
        """How each option value was found (features.resolved), and why the others were not (features.unresolved)."""
        reasons = {src: why for (_, src), why in self.why_unresolved.items()}
        for t in self.tasks:
            found: Options = {
                k: v for k, v in (t.inherited_options.pop(RESOLVED_KEY, None) or {}).items() if k not in t.options
            }  # a task's own option hides how the inherited value was found
            found.update(t.options.pop(RESOLVED_KEY, None) or {})
            merged = {**t.inherited_options, **t.options}
            if found:
                t.features = {**t.features, "resolved": {k: v for k, v in sorted(found.items()) if k in merged}}
            unresolved = {
                k: reasons.get(v["dynamic"], "computed at run time")
                for k, v in sorted(merged.items())
                if k in VALUE_OPTIONS and k != "name" and is_dynamic(v)
            }  # a computed name is SM103
            unresolved = dict(sorted({**unresolved, **(t.features.get("option_clash") or {})}.items()))
            if unresolved and (self.values is not None or t.features.get("option_clash")):
                t.features = {**t.features, "unresolved": unresolved}

    def task_for_ref(self, ref: str | None) -> Task | None:
        r = self.res.resolve(ref) if ref else None
        if not r:
            return None
        mod, sym, rest = r
        t = self.symbol_to_task.get((mod, sym))
        if t and not rest:
            return t
        if rest and (mod, f"{sym}.{rest}") in self.symbol_to_task:
            return self.symbol_to_task[(mod, f"{sym}.{rest}")]
        return None

    # schedules and calls
    def collect_schedules(self) -> list[Schedule]:
        schedules: list[Schedule] = []
        for mod, mf in self.modules.items():
            for s in mf.facts.get("schedules", []):
                task = s["task"]
                if isinstance(task, dict) and "ref" in task:
                    t = self.task_for_ref(task["ref"])
                    task = t.name if t else dynamic(task.get("src") or task["ref"] or "")
                entry = s["entry"]
                if s.get("entry_is_task") and isinstance(task, str):
                    entry = task
                sch = Schedule(
                    entry=entry,
                    task=task,
                    file=mf.rel,
                    line=s["line"],
                    module=mod,
                    source=s["source"],
                    container=s["container"],
                    kind=s["kind"],
                    celery=s["celery"],
                    args=s["args"],
                    kwargs=s["kwargs"],
                    options=s["options"],
                    relative=s["relative"],
                    in_loop=s["in_loop"],
                    from_settings=s["from_settings"],
                )
                if s.get("extra_keys"):
                    sch.celery = {**sch.celery, "_extra_keys": s["extra_keys"]}
                schedules.append(sch)
        schedules.sort(key=lambda s: (s.file, s.line))
        return schedules

    def collect_calls(self) -> list[Call]:
        calls: list[Call] = []
        for mod, mf in self.modules.items():
            facts = mf.facts
            for c in facts.get("calls", []):
                task_name = c.get("task_name")
                task_fn = c.get("task_fn")
                if c["kind"] == "retry" and task_fn:
                    t = self.symbol_to_task.get((mod, task_fn))
                    if t is None:
                        t = next((x for x in self.tasks if x.module == mod and x.function == task_fn), None)
                    task_name = t.name if t else None
                elif c.get("target_ref") and not task_name:
                    t = self.task_for_ref(c["target_ref"])
                    task_name = t.name if t else None
                if task_name is None and c["kind"] in (
                    "delay",
                    "apply_async",
                    "s",
                    "si",
                    "signature",
                    "map",
                    "starmap",
                    "chunks",
                    "apply",
                ):
                    if not _plausible_dispatch(c, facts, self.res):
                        continue
                calls.append(
                    Call(
                        kind=c["kind"],
                        file=mf.rel,
                        line=c["line"],
                        column=c["column"],
                        module=mod,
                        target=c["target"],
                        task=task_name,
                        options=c["options"],
                        dynamic_name=c.get("dynamic_name"),
                        on_commit=c["on_commit"],
                        in_function=c.get("in_function"),
                    )
                )
        calls.sort(key=lambda c: (c.file, c.line, c.column))
        return calls


# config sources
# What Celery reads a setting from (celery/app/base.py Celery._load_config, celery/app/utils.py
# detect_settings, celery/utils/collections.py ConfigurationView): ``app.conf`` changes (``conf.update``,
# ``conf.x = v``, ``Celery(**settings)``) over the config source of the *last* ``config_from_object`` (or
# ``Celery(config_source=)``) over the defaults. In each, the key looked up for setting ``x`` is
# ``<NAMESPACE>_X`` (cased like the namespace) when the app has a namespace, then ``x``, then its old name.


def _celery_key_tables() -> tuple[frozenset[str], dict[str, str]]:
    """Celery's setting names and new name -> old name (celery.app.defaults)."""
    global _KEY_TABLES
    if _KEY_TABLES is None:
        try:
            from celery.app.defaults import _TO_OLD_KEY, SETTING_KEYS

            _KEY_TABLES = (frozenset(SETTING_KEYS), dict(_TO_OLD_KEY))
        except Exception:  # noqa: BLE001 - Celery is a dependency; without it, the names saqmigrate knows
            from saqmigrate.index.extract import SETTING_ALIASES

            new = frozenset(v for k, v in SETTING_ALIASES.items() if k == v)
            _KEY_TABLES = (
                new,
                {v: k for k, v in SETTING_ALIASES.items() if k != v and k.startswith(("CELERY", "BROKER"))},
            )
    return _KEY_TABLES


_KEY_TABLES: tuple[frozenset[str], dict[str, str]] | None = None


def celery_settings(keys: Any, namespace: str | None) -> dict[str, str]:
    """Setting name -> the key of ``keys`` Celery reads it from, under ``namespace`` (only USED_SETTINGS)."""
    new, old = _celery_key_tables()
    prefix = namespace.rstrip("_") + "_" if isinstance(namespace, str) and namespace else None
    out: dict[str, str] = {}
    for name in USED_SETTINGS & new:
        candidates = [(prefix + name).upper() if prefix.isupper() else (prefix + name).lower()] if prefix else []
        candidates += [name] + ([old[name]] if old.get(name) else [])
        hit = next((k for k in candidates if k in keys), None)
        if hit is not None:
            out[name] = hit
    return out


class _PlacedFlaskFact(FlaskConfigFact):
    module: str
    rel: str


_Items = dict[str, "Resolved | Unresolved"]  # a config mapping read item by item


def _flask_item(key: str, modules: dict[str, ModuleFacts], values: Values) -> tuple[_Items, list[str], str]:
    """The mapping a Flask app's ``app.config[key]`` holds: (items, environment variables that may replace
    them, where it is set). Raises Unresolved when the project does not show it exactly."""
    writes: list[_PlacedFlaskFact] = []
    others: list[_PlacedFlaskFact] = []
    for mod, mf in modules.items():
        for fact in mf.facts.get("flask_config", []):
            f: _PlacedFlaskFact = {**fact, "module": mod, "rel": mf.rel}
            if f["kind"] == "set" and f["key"] == key:
                writes.append(f)
            elif f["kind"] == "mutation" and f["key"] == key:
                raise Unresolved(f"`{f['src']}` ({mf.rel}:{f['line']}) changes app.config[{key!r}] in place")
            elif f["kind"] != "set":
                others.append(f)
    if not writes:
        raise Unresolved(f"nothing in the scanned project sets app.config[{key!r}]")
    last = max(writes, key=lambda w: w["line"])
    if any((w["module"], w["func"]) != (last["module"], last["func"]) for w in writes):
        places = ", ".join(sorted(f"{w['rel']}:{w['line']}" for w in writes))
        raise Unresolved(f"app.config[{key!r}] is set in several places ({places})")

    def before(
        f: _PlacedFlaskFact,
    ) -> bool:  # run before the write, in the same function: the write replaces what it set
        return (f["module"], f["func"]) == (last["module"], last["func"]) and f["line"] < last["line"]

    env: list[str] = []
    for f in others:
        if before(f):
            continue
        where = f"`{f['src']}` ({f['rel']}:{f['line']})"
        if f["kind"] == "env":
            if not f.get("prefix"):
                raise Unresolved(f"{where} reads the environment with a prefix that is not a literal")
            env.append(f"{f['prefix']}_{key}")
        elif f["kind"] == "from_object" and not key.isupper():
            continue  # Flask's from_object copies upper-case attributes only
        else:
            raise Unresolved(f"{where} may set app.config[{key!r}]")
    where = f"{last['rel']}:{last['line']}"
    if "value" in last:
        if not isinstance(last["value"], dict):
            raise Unresolved(f"app.config[{key!r}] ({where}) is not a dict")
        items: _Items = {k: Resolved(v) for k, v in last["value"].items()}
    else:
        got = _source_mapping(last["module"], last["source"], modules, values)
        if not isinstance(got, dict):
            raise Unresolved(f"app.config[{key!r}] ({where}) is not a dict")
        items = got
    return items, env, where


def _source_mapping(mod: str, source: SourceFact, modules: dict[str, ModuleFacts], values: Values) -> Any:
    """A config source fact (extract.Extractor._source_fact) -> {key: Resolved | Unresolved}, or the
    string "object" for a module or class (read by attribute: the settings scan covers their assignments)."""
    kind = source.get("kind")
    if kind == "local":
        raise Unresolved(source["why"])
    if kind == "flask_config_all":
        return "object"
    if kind == "import_path":  # "proj.celeryconfig" (a module: the settings scan reads it) or "proj.config:Config"
        try:
            got = values.object_at(mod, source.get("path") or "")
        except Unresolved:
            return "object"  # outside the project (django.conf:settings ...): the settings scan, as before
        return values.class_items(got) if isinstance(got, _Class) else "object"
    if kind == "flask_config":
        items, env, _ = _flask_item(source["key"], modules, values)
        if env:  # Flask's from_prefixed_env: FLASK_CELERY replaces the dict, FLASK_CELERY__x one item
            items = {
                k: (
                    Resolved(v.value, list(v.env) + [e for p in env for e in (p, f"{p}__{k}")], v.origin)
                    if isinstance(v, Resolved)
                    else v
                )
                for k, v in items.items()
            }
        return items
    if kind == "mapping":
        out: _Items = {}
        for k, item in source["items"].items():
            try:
                out[k] = _item_value(mod, item, modules, values)
            except Unresolved as exc:
                out[k] = exc
        return out
    mapping = values.mapping(mod, source["src"])
    if isinstance(mapping, _Class):  # config_from_object(Config): its attributes, inherited ones included
        return values.class_items(mapping)
    return mapping if isinstance(mapping, dict) else "object"


def _item_value(mod: str, item: ItemFact, modules: dict[str, ModuleFacts], values: Values) -> Resolved:
    """One value of a config mapping: a literal, an expression evaluated at module level, a nested mapping."""
    if "value" in item:
        return Resolved(item["value"])
    source = item["source"]
    if source["kind"] == "local":
        raise Unresolved(source["why"])
    if source["kind"] in ("mapping", "flask_config"):
        items = _source_mapping(mod, source, modules, values)
        bad = [v for v in items.values() if not isinstance(v, Resolved)] if isinstance(items, dict) else [None]
        if bad:
            raise Unresolved(str(bad[0]) if bad[0] is not None else f"`{source['src']}` is not a dict")
        return Resolved({k: v.value for k, v in items.items()}, [e for v in items.values() for e in v.env])
    if source["kind"] != "expr":
        raise Unresolved(f"`{source['src']}` is not a value")
    return values.expr(mod, source["src"])


def _config_source_settings(
    config_sources: list[ConfigSource],
    modules: dict[str, ModuleFacts],
    values: Values,
    apps: dict[str, App],
    why_unresolved: dict[tuple[str, str], str],
) -> list[tuple[Setting, SettingMeta]]:
    """Settings read from config sources (config_from_object, conf.update, Celery(config_source=/changes=)):
    exact values where the source is shown in the project, else placeholders that keep what depends on them
    on Celery (and the source's entry says why: SM122)."""
    out: list[tuple[Setting, SettingMeta]] = []
    key_of = {id(a): k for k, a in apps.items()}
    for c in config_sources:
        app, entry, mod, src = c["app"], c["entry"], c["module"], c["source"].get("src", "")
        layer = "changes" if c["attr"] == "conf.update" else "source"
        namespace = entry.get("namespace")
        if app is not None:
            namespace = (
                namespace
                or next((e.get("namespace") for e in app.config_from_object if e.get("namespace")), None)
                or app.options.get("namespace")
            )
        meta: SettingMeta = {"layer": layer, "app": key_of.get(id(app)), "source": (mod, c["line"])}
        try:
            items = _source_mapping(mod, c["source"], modules, values)
        except Unresolved as exc:
            why = str(exc)
            entry["unresolved"] = why
            for name in sorted(TRANSLATION_SETTINGS):
                dyn = f"{name} from {src}"
                why_unresolved[(mod, dyn)] = (
                    f"the app's settings come from `{src}` ({c['rel']}:{c['line']}), which "
                    f"cannot be read statically: {why}"
                )
                out.append(
                    (
                        Setting(
                            name=name,
                            raw_name=f"{src} {UNREADABLE_MARK} {why})",
                            value=dynamic(dyn),
                            file=c["rel"],
                            line=c["line"],
                            module=mod,
                        ),
                        {**meta, "env": [], "placeholder": True},
                    )
                )
            continue
        if items == "object":
            entry["read"] = "by attribute (settings scan)"
            continue
        if not isinstance(items, dict):
            continue
        entry["read"] = "exactly"
        for name, key in sorted(celery_settings(items, namespace).items()):
            got = items[key]
            raw = f"{src if len(src) < 60 else src[:57] + '...'}[{key!r}]"
            if isinstance(got, Resolved):
                value, env = _jsonable(got.value), list(got.env)
            else:
                value, env = dynamic(raw), []
                why_unresolved[(mod, raw)] = str(got)
            out.append(
                (
                    Setting(name=name, raw_name=raw, value=value, file=c["rel"], line=c["line"], module=mod),
                    {**meta, "env": env},
                )
            )
    return out


def _in_effect(entries: list[tuple[Setting, SettingMeta]], n_apps: int) -> list[tuple[Setting, SettingMeta]]:
    """The settings Celery uses: a change (``conf.update``, ``conf.x = v``, ``Celery(x=)``) hides what a config
    source says for the same setting and app; of one app's config_from_object calls in one module only the
    last is read. What cannot be ordered (other modules, other apps) is kept: a conflict is reported, not chosen."""
    # only the last config_from_object of an app (when all of them are in one module) is its source
    by_app: dict[str, list[tuple[str, int]]] = {}
    for _, m in entries:
        if (source := m.get("source")) and m["layer"] == "source" and m["app"]:
            by_app.setdefault(m["app"], []).append(source)
    dropped_sources = set()
    for app_key, srcs in by_app.items():
        if len({mod for mod, _ in srcs}) == 1:
            last = max(srcs, key=lambda s: s[1])
            dropped_sources |= {(app_key, s) for s in srcs if s != last}
    kept = [
        (st, m)
        for st, m in entries
        if not (m.get("source") and m["layer"] == "source" and (m["app"], m["source"]) in dropped_sources)
    ]
    by_name: dict[str, list[tuple[Setting, SettingMeta]]] = {}
    for st, m in kept:
        by_name.setdefault(st.name, []).append((st, m))
    out: list[tuple[Setting, SettingMeta]] = []
    for name, group in by_name.items():
        unreadable = [(st, m) for st, m in group if m.get("placeholder") and m["layer"] == "source"]
        if unreadable:  # the source the app reads cannot be read: what else the project assigns is not known to apply
            group = [(st, m) for st, m in group if m["layer"] == "changes"] + unreadable
        changes = [(st, m) for st, m in group if m["layer"] == "changes"]
        if changes:
            apps_changed = {m["app"] for _, m in changes}
            # one app, or the change is known to be that app's: the config source's value is not in effect
            group = changes + [
                (st, m)
                for st, m in group
                if m["layer"] != "changes" and not (n_apps <= 1 or (m["app"] and m["app"] in apps_changed))
            ]
            # in one module, for one app, the last change wins
            mods = {(st.module, m["app"]) for st, m in changes}
            if len(mods) == 1 and len(group) == len(changes):
                group = [max(changes, key=lambda x: x[0].line)]
        out.extend(group)
    return out


def _task_defaults(settings: list[tuple[Setting, SettingMeta]], why_unresolved: dict[tuple[str, str], str]) -> Options:
    """Task option defaults from the app settings in effect (celery/app/task.py from_config). A value that
    cannot be resolved, or one set differently in several places, is kept as a dynamic value: the tasks that
    take it stay on Celery (SM115), never on a default."""
    out: Options = {}
    found: dict[str, dict[str, Any]] = {}
    by_name: dict[str, list[tuple[Setting, SettingMeta]]] = {}
    for st, m in settings:
        if st.name in CONF_TASK_DEFAULTS:
            by_name.setdefault(st.name, []).append((st, m))
    for name, group in sorted(by_name.items()):
        opt = CONF_TASK_DEFAULTS[name]
        dyn = next((st for st, _ in group if is_dynamic(st.value)), None)
        distinct = {repr(st.value) for st, _ in group}
        if dyn is not None:
            out[opt] = dyn.value
        elif len(distinct) > 1:
            places = ", ".join(f"{st.raw_name} = {st.value!r} ({st.file}:{st.line})" for st, _ in group)
            text = f"{name} set differently: {places}"
            out[opt] = dynamic(text)
            why_unresolved[("", text)] = (
                "the project sets it differently in several places and Celery's choice "
                "depends on which runs (environments, import order)"
            )
        else:
            st, m = group[0]
            out[opt] = st.value
            envs = sorted({e for _, mm in group for e in mm.get("env") or []})
            if envs:
                found[opt] = {"src": st.raw_name, "env": envs, "origin": f"{st.file}:{st.line}"}
    if found:
        out[RESOLVED_KEY] = found
    return out


def _over_defaults(defaults: Options, inherited: Options) -> Options:
    """A base class's (or task_cls's) options over the app's defaults, keeping how each value was found."""
    out = {**defaults, **inherited}
    found = {**(defaults.get(RESOLVED_KEY) or {}), **(inherited.get(RESOLVED_KEY) or {})}
    for k in list(found):
        if k in inherited and k not in (inherited.get(RESOLVED_KEY) or {}):
            del found[k]  # the base class sets it: the default's origin does not apply
    if found:
        out[RESOLVED_KEY] = found
    else:
        out.pop(RESOLVED_KEY, None)
    return out


def _plausible_dispatch(c: CallFact, facts: Facts, res: Resolver) -> bool:
    """An unresolved ``x.delay()``: keep it unless it is clearly not Celery."""
    target = c.get("target") or ""
    ref = c.get("target_ref") or ""
    last = target.rsplit(".", 1)[-1].lower()
    if c["kind"] == "apply_async":
        if "pool" in last or "executor" in last:
            return False
        first = c["options"].get("_first_positional")
        if (
            first
            and (first.isidentifier() or first.replace(".", "").isidentifier())
            and not any(w in first.lower() for w in ("arg", "param", "payload", "data"))
        ):
            return False  # Pool.apply_async(func, ...): the first positional argument is a callable
    if c["kind"] in ("s", "si", "signature", "map", "starmap", "chunks", "apply"):
        return bool(facts.get("uses_celery")) and not ref.startswith("?")
    top = ref.lstrip("?").split(".")[0]
    if top in OTHER_TASK_LIBS:
        return False
    return True
