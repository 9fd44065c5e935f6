"""Step 3b: link per-file facts across modules into a ProjectIndex.

Resolves references through imports, relative imports, star imports and package
re-exports; decides which decorators are Celery task decorators (apps, ``shared_task``,
aliases defined in other modules, legacy APIs); finds ``Task`` subclasses through chains
of our own base classes; resolves call targets and beat ``task`` names to tasks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from saqmigrate.index.extract import (
    CELERY_CLS, LEGACY_PERIODIC, LEGACY_TASK, SHARED_TASK, TASK_CLS,
)
from saqmigrate.index.extract import _jsonable
from saqmigrate.index.model import App, Call, Param, ProjectIndex, Schedule, Setting, Task, dynamic, is_dynamic
from saqmigrate.index.values import Unresolved, Values

HOOK_METHODS = ("on_failure", "on_success", "on_retry", "after_return", "before_start", "__call__")
TASK_OPTION_ATTRS = {
    "name", "max_retries", "default_retry_delay", "autoretry_for", "dont_autoretry_for", "retry_kwargs",
    "retry_backoff", "retry_backoff_max", "retry_jitter", "time_limit", "soft_time_limit", "rate_limit",
    "ignore_result", "acks_late", "track_started", "serializer", "priority", "queue", "expires",
    "reject_on_worker_lost", "typing", "throws", "trail", "send_events", "store_errors_even_if_ignored",
    "acks_on_failure_or_timeout", "abstract",
}
CONF_TASK_DEFAULTS = {
    "task_time_limit": "time_limit", "task_soft_time_limit": "soft_time_limit", "task_acks_late": "acks_late",
    "task_ignore_result": "ignore_result", "task_default_rate_limit": "rate_limit",
    "task_serializer": "serializer", "task_track_started": "track_started",
    "task_reject_on_worker_lost": "reject_on_worker_lost",
}
# options whose values rewrite uses: a name or expression in them is resolved (values.py) or reported
VALUE_OPTIONS = {
    "name", "queue", "routing_key", "exchange", "max_retries", "default_retry_delay", "autoretry_for",
    "dont_autoretry_for", "retry_kwargs", "retry_backoff", "retry_backoff_max", "retry_jitter", "time_limit",
    "soft_time_limit", "rate_limit", "ignore_result", "acks_late", "serializer", "priority", "expires",
    "reject_on_worker_lost", "track_started",
}
EXCEPTION_OPTIONS = {"autoretry_for", "dont_autoretry_for", "throws"}
RESOLVED_KEY = "__resolved__"  # options[RESOLVED_KEY][option] = {"src", "env", "origin"}: how a value was found
OTHER_TASK_LIBS = ("huey", "dramatiq", "taskiq", "rq", "arq", "prefect", "airflow", "procrastinate", "saq",
                   "django_q", "kombu", "invoke", "luigi", "dagster", "ray", "faust", "nameko", "pytest")
APPISH = {"app", "celery", "celery_app", "capp", "celeryapp", "worker", "application"}


@dataclass
class ModuleFacts:
    rel: str
    facts: dict


@dataclass
class Resolver:
    modules: dict[str, ModuleFacts]
    lazy: Callable[[str], dict | None]  # module name -> imports-only facts for unparsed files
    project_uses_celery: bool = False
    _cache: dict = field(default_factory=dict)

    def facts(self, module: str) -> dict | None:
        mf = self.modules.get(module)
        if mf is not None:
            return mf.facts
        if module in self._cache:
            return self._cache[module]
        f = self.lazy(module)
        self._cache[module] = f
        return f

    def _split(self, ref: str):
        """Longest known module prefix of ``ref``: (module, its facts, symbol, rest) or None."""
        parts = ref.split(".")
        for i in range(len(parts) - 1, 0, -1):
            mod = ".".join(parts[:i])
            facts = self.facts(mod)
            if facts is not None:
                return mod, facts, parts[i], ".".join(parts[i + 1:])
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


def _django_facts(modules: dict[str, ModuleFacts]) -> dict:
    """What makes the project a Django project, and its statically visible settings module."""
    settings = sorted({v for mf in modules.values() for v in mf.facts.get("django_settings", []) if isinstance(v, str)})
    signals = []
    if settings:
        signals.append("DJANGO_SETTINGS_MODULE is set")
    if any(mf.facts.get("uses_django") for mf in modules.values()):
        signals.append("django is imported")
    out: dict = {"signals": signals}
    if len(settings) == 1:
        out["settings_module"] = settings[0]
    elif settings:
        out["settings_modules"] = settings  # several: none is chosen (each environment may use another)
    return out


def _module_of(ref: str) -> str:
    return ref.rsplit(".", 1)[0] if "." in ref else ""


def build_index(root: str, modules: dict[str, ModuleFacts], lazy: Callable[[str], dict | None],
                load_tree: Callable[[str], Any] | None = None, is_module: Callable[[str], bool] | None = None,
                ) -> ProjectIndex:
    """``load_tree``/``is_module``: parse any module of the tree on demand, so option values can be
    resolved through constants modules, re-exports and Django settings (``values.py``)."""
    res = Resolver(modules, lazy, project_uses_celery=any(m.facts.get("uses_celery") for m in modules.values()))
    index = ProjectIndex(root=root)
    index.django = _django_facts(modules)
    values = Values(load_tree, is_module or (lambda m: m in modules),
                    index.django.get("settings_module")) if load_tree is not None else None
    why_unresolved: dict[tuple[str, str], str] = {}  # (module, source) -> reason, for findings

    def resolve_opts(mod: str, options: dict) -> dict:
        """Dynamic option values replaced by what Python would bind them to, where that is exact."""
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
                why_unresolved[(mod, src)] = str(exc)
        if resolved:
            out[RESOLVED_KEY] = resolved
        return out

    # --- apps -------------------------------------------------------------------------
    apps: dict[str, App] = {}
    for mod, mf in modules.items():
        for a in mf.facts.get("apps", []):
            app = App(name=a["name"], file=mf.rel, line=a["line"], module=mod, kind=a["kind"], main=a["main"],
                      task_cls=a["task_cls"], options=a["options"], in_function=bool(a.get("in_function")))
            apps[f"{mod}.{a['name']}"] = app
    # instances of Celery subclasses defined in other modules: celery = IndicoCelery('indico')
    subclasses = {key for key, a in apps.items() if a.kind == "subclass"}
    if subclasses:
        for mod, mf in modules.items():
            for var, callee in mf.facts.get("assign_calls", {}).items():
                r = res.resolve(res.canonical(callee) or callee)
                if r and not r[2] and f"{r[0]}.{r[1]}" in subclasses and f"{mod}.{var}" not in apps:
                    apps[f"{mod}.{var}"] = App(name=var, file=mf.rel, line=mf.facts.get("assign_lines", {}).get(var, 1),
                                               module=mod, kind="instance", main=None, task_cls=None,
                                               options={"class": f"{r[0]}.{r[1]}"})
    for mod, mf in modules.items():
        for s in mf.facts.get("app_attr_sets", []):
            target = res.resolve(s["app"]) if s["app"] else None
            key = f"{target[0]}.{target[1]}" if target else None
            if key and key not in apps and s["attr"] == "config_from_object" and not target[2] \
                    and target[0] in modules:
                # `app = celery_class('mayan')` (a factory the scan cannot follow) configured like a Celery app
                owner = modules[target[0]]
                apps[key] = App(name=target[1], file=owner.rel,
                                line=owner.facts.get("assign_lines", {}).get(target[1], s["line"]), module=target[0],
                                kind="instance", main=None, task_cls=None,
                                options={"inferred_from": "config_from_object"})
            app = apps.get(key) if key else None
            if app is None and len(apps) == 1:
                app = next(iter(apps.values()))
            if app is None:
                continue
            if s["attr"] == "config_from_object":
                app.config_from_object.append(s["value"])
            elif s["attr"] == "Task":
                app.task_cls = s["value"]
    index.apps = sorted(apps.values(), key=lambda a: (a.file, a.line))

    def is_app(base_ref: str, facts: dict) -> bool:
        if base_ref in CELERY_CLS or res.facts(base_ref) is not None:
            return False  # the class itself, or a module (``proj.celery``), is not an app
        r = res.resolve(base_ref)
        if r:
            mod, sym, rest = r
            if rest:
                return False
            if f"{mod}.{sym}" in apps:
                return True
            mfacts = res.facts(mod) or {}
            call = mfacts.get("assign_calls", {}).get(sym)
            if call:
                c = res.canonical(call) or call
                if c in CELERY_CLS or "celery" in c.lower():
                    return True
                cr = res.resolve(c)
                if cr and cr[1] in (res.facts(cr[0]) or {}).get("factories", []):
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
        return (last in APPISH) and (facts.get("uses_celery") or res.project_uses_celery)

    def alias_of(ref: str) -> dict | None:
        r = res.resolve(ref)
        if not r or r[2]:
            return None
        facts = res.facts(r[0]) or {}
        return facts.get("aliases", {}).get(r[1])

    def classify_decorator(ref: str, facts: dict, depth: int = 0) -> tuple[str, str | None, dict] | None:
        """-> (kind, app_ref, alias_options) if ref is a Celery task decorator."""
        c = res.canonical(ref) or ref
        if c in SHARED_TASK:
            return ("shared_task", None, {})
        if c in LEGACY_PERIODIC:
            return ("periodic_task", None, {})
        if c in LEGACY_TASK:
            return ("legacy_task", None, {})
        if c.endswith(".periodic_task") and is_app(c[: -len(".periodic_task")], facts):
            return ("periodic_task", c[: -len(".periodic_task")], {})
        if depth < 3:
            alias = alias_of(c)
            if alias:
                inner = classify_decorator(alias["ref"], res.facts(_module_of(c)) or facts, depth + 1)
                if inner:
                    return ("alias", inner[1], {**inner[2], **alias.get("options", {})})
                return None
        if c.endswith(".task") and is_app(c[: -len(".task")], facts):
            return ("app_task", c[: -len(".task")], {})
        return None

    def factory_of(cand: dict) -> tuple[str, str, dict, tuple[str, str | None, dict]] | None:
        """A decorator factory (extract's ``decorator_factories``) behind a decorator, used as it must be
        (``@retryable_task(...)`` for a class or options factory, ``@periodic`` for one taking the function):
        -> (its module, its name, its facts, the classification of the Celery decorator it applies)."""
        r = res.resolve(cand["ref"])
        if not r or r[2]:
            return None
        ffacts = res.facts(r[0]) or {}
        f = ffacts.get("decorator_factories", {}).get(r[1])
        if not f or bool(f.get("called")) != bool(cand.get("is_call")):
            return None
        inner = classify_decorator(f["task_ref"], ffacts)
        return (r[0], r[1], f, inner) if inner else None

    def factory_options(fmod: str, f: dict, alias_opts: dict, cand: dict, mod: str) -> tuple[dict, dict]:
        """(options as Celery receives them, the part written inside the factory). The factory's own
        literals (and its parameters' defaults) are merged under what the decorator call passes."""
        call_kw, call_pos = cand["options"], cand["args"]
        inside = {**alias_opts, **f["fixed"]}
        given: dict = {}
        for opt, p in f["params"].items():
            if p["param"] in call_kw:
                given[opt] = call_kw[p["param"]]
            elif p.get("index") is not None and p["index"] < len(call_pos):
                given[opt] = call_pos[p["index"]]
            elif p.get("has_default"):
                inside[opt] = p["default"]
        if f.get("pass_kwargs"):
            consumed = set(f.get("own_params", {}))  # keywords Python binds to the factory's named parameters
            given.update({k: v for k, v in call_kw.items() if k not in consumed})
        inside = resolve_opts(fmod, inside)
        given = resolve_opts(mod, given)
        found = {**(inside.pop(RESOLVED_KEY, None) or {}), **(given.pop(RESOLVED_KEY, None) or {})}
        out = {**inside, **given}
        if found:
            out[RESOLVED_KEY] = found
        return out, inside

    # --- Task subclasses ----------------------------------------------------------------
    class_cache: dict[str, tuple[bool, dict, list[str]]] = {}

    def class_info(mod: str, name: str, depth: int = 0) -> tuple[bool, dict, list[str]]:
        """(is a celery Task subclass, inherited option attrs, hook methods) for class ``mod.name``."""
        key = f"{mod}.{name}"
        if key in class_cache:
            return class_cache[key]
        class_cache[key] = (False, {}, [])
        facts = res.facts(mod) or {}
        cls = next((c for c in facts.get("classes", []) if c["qualname"] == name or c["name"] == name), None)
        if cls is None or depth > 10:
            return class_cache[key]
        is_task, attrs, hooks = False, {}, []
        for b in cls["bases"]:
            c = res.canonical(b) or b
            if c in TASK_CLS:
                is_task = True
                continue
            r = res.resolve(c)
            if r and not r[2]:
                bt, battrs, bhooks = class_info(r[0], r[1], depth + 1)
                if bt:
                    is_task = True
                    attrs.update(battrs)
                    hooks.extend(h for h in bhooks if h not in hooks)
        own = {k: v for k, v in cls["attrs"].items() if k in TASK_OPTION_ATTRS}
        if is_task:  # values are resolved only for Celery Task classes (library classes have `name = ...` too)
            own = resolve_opts(mod, own)
        if RESOLVED_KEY in own and RESOLVED_KEY in attrs:
            own[RESOLVED_KEY] = {**attrs[RESOLVED_KEY], **own[RESOLVED_KEY]}
        attrs.update(own)
        hooks.extend(h for h in HOOK_METHODS if h in cls["methods"] and h not in hooks)
        class_cache[key] = (is_task, attrs, hooks)
        return class_cache[key]

    def resolve_src(src: Any, facts: dict) -> str | None:
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

    def base_options(base_ref: str | None) -> tuple[dict, list[str], bool]:
        if not base_ref:
            return {}, [], False
        r = res.resolve(base_ref)
        if not r or r[2]:
            return {}, [], False
        is_task, attrs, hooks = class_info(r[0], r[1])
        return dict(attrs), list(hooks), is_task

    # app-level task defaults from settings
    conf_defaults: dict = {}
    settings: list[Setting] = []
    for mod, mf in modules.items():
        for s in mf.facts.get("settings", []):
            value = s["value"]
            if is_dynamic(value) and values is not None:
                try:
                    value = _jsonable(values.expr(mod, value["dynamic"]).value)
                except Unresolved as exc:
                    why_unresolved[(mod, value["dynamic"])] = str(exc)
            settings.append(Setting(name=s["name"], raw_name=s["raw_name"], value=value, file=mf.rel,
                                    line=s["line"], module=mod))
            if s["name"] in CONF_TASK_DEFAULTS and not is_dynamic(value):
                conf_defaults[CONF_TASK_DEFAULTS[s["name"]]] = value
    index.settings = sorted(settings, key=lambda s: (s.file, s.line))

    def app_task_cls_options(app_ref: str | None, facts: dict) -> tuple[dict, list[str]]:
        app = None
        if app_ref:
            r = res.resolve(app_ref)
            if r:
                app = apps.get(f"{r[0]}.{r[1]}")
        if app is None and len(apps) == 1:
            app = next(iter(apps.values()))
        if app is None or app.task_cls is None:
            return {}, []
        app_facts = res.facts(app.module) or {}
        ref = resolve_src(app.task_cls, app_facts)
        attrs, hooks, _ = base_options(ref)
        return attrs, hooks

    # --- tasks ------------------------------------------------------------------------
    tasks: list[Task] = []
    symbol_to_task: dict[tuple[str, str], Task] = {}

    def gen_name(mod: str, fn: str) -> str:
        return f"{mod}.{fn}" if mod else fn

    by_wrapper: dict[str, list[Task]] = {}  # tasks named after a factory's wrapper (no functools.wraps)
    for mod, mf in modules.items():
        facts = mf.facts
        for d in facts.get("decorated", []):
            if d.get("factory"):
                continue  # the wrapper inside a decorator factory: each function decorated with it is a task
            found = None
            other = []
            factory = None
            for cand in d["decorators"]:
                kind = classify_decorator(cand["ref"], facts) if found is None else None
                if not kind and found is None:
                    factory = factory_of(cand)
                    kind = ("factory", factory[3][1], factory[3][2]) if factory else None
                if kind and found is None:
                    found = (cand, kind)
                else:
                    other.append(cand["src"])
            if not found:
                continue
            cand, (kind, app_ref, alias_opts) = found
            base_facts = facts
            if factory:
                fmod, fname, f, _ = factory
                options, inside = factory_options(fmod, f, alias_opts, cand, mod)
                if "base" in inside and "base" not in cand["options"]:
                    base_facts = res.facts(fmod) or facts
            else:
                options = resolve_opts(mod, {**alias_opts, **cand["options"]})
            name_opt = options.get("name")
            if isinstance(name_opt, str):
                name = name_opt
            elif name_opt is None and factory and f.get("named_after") == "wrapper":
                name = gen_name(fmod, f["wrapper"])  # Celery names the task after the wrapper it was given
            elif name_opt is None:
                name = gen_name(mod, d["name"])
            else:
                name = None
            base_ref = resolve_src(options.get("base"), base_facts) if "base" in options else None
            inherited, hooks, _ = base_options(base_ref)
            if not base_ref:
                inherited, hooks = app_task_cls_options(app_ref, facts)
            inherited = {**conf_defaults, **inherited}
            bind = options.get("bind") is True
            params = [Param(**p) for p in d["params"]]
            if bind and params:
                params = params[1:]
            t = Task(
                name=name, function=d["function"], file=mf.rel, line=d["line"], decorator_line=cand["line"],
                module=mod, kind=kind, decorator=cand["src"], app=app_ref, options=options, bind=bind,
                is_async=d["is_async"], params=params, base=options.get("base"), nested=d["nested"],
                in_loop=d["in_loop"], features=d["features"] if bind else {**d["features"], "request_attrs": [],
                                                                            "self_retry": False, "update_state": False},
                stacked=other, end_line=d["end_line"], inherited_options=inherited, hooks=hooks,
            )
            if factory:
                t.features = {**t.features, "factory": f"{fmod}.{fname}"}
                if name_opt is None and f.get("named_after") == "wrapper":
                    by_wrapper.setdefault(f"{fmod}.{fname}", []).append(t)
            tasks.append(t)
            if not d["nested"]:
                symbol_to_task[(mod, d["function"])] = t

        for reg in facts.get("registrations", []):
            if reg.get("class_instance") or reg.get("factory"):
                continue  # factory: the call inside a decorator factory, made once per decorated function
            kind_info = classify_decorator(reg["ref"], facts)
            if not kind_info:
                continue
            fn_ref = reg["fn"]
            r = res.resolve(fn_ref) if isinstance(fn_ref, str) else None
            fn_facts = res.facts(r[0]) if r else None
            fn = (fn_facts or {}).get("functions", {}).get(r[1]) if r else None
            options = resolve_opts(mod, {**kind_info[2], **reg["options"]})
            name_opt = options.get("name")
            fn_name = (r[1] if r else str(reg["fn_src"]).rsplit(".", 1)[-1])
            fn_mod = r[0] if r else mod
            name = name_opt if isinstance(name_opt, str) else (gen_name(fn_mod, fn_name) if name_opt is None else None)
            bind = options.get("bind") is True
            params = [Param(**p) for p in (fn or {}).get("params", [])]
            if bind and params:
                params = params[1:]
            t = Task(
                name=name, function=fn_name, file=(res.modules[fn_mod].rel if fn_mod in res.modules else mf.rel),
                line=(fn or {}).get("line", reg["line"]), decorator_line=reg["line"], module=fn_mod,
                kind="registration", decorator=reg["ref"].rsplit(".", 1)[-1] if reg["ref"] else "",
                app=kind_info[1], options=options, bind=bind, is_async=(fn or {}).get("is_async", False),
                params=params, nested=reg["nested"], in_loop=reg["in_loop"],
                features=(fn or {}).get("features", {}), end_line=(fn or {}).get("end_line", 0),
                inherited_options=dict(conf_defaults),
            )
            t.features = {**t.features, "registered_at": f"{mf.rel}:{reg['line']}"}
            tasks.append(t)
            if reg.get("bound"):
                symbol_to_task[(mod, reg["bound"])] = t
            if r:
                symbol_to_task.setdefault((r[0], r[1]), t)

        for cls in facts.get("classes", []):
            is_task, attrs, hooks = class_info(mod, cls["qualname"])
            if not is_task or "run" not in cls["methods"] or cls["attrs"].get("abstract") is True:
                continue
            run = cls["methods"]["run"]
            name_attr = cls["attrs"].get("name")
            name = name_attr if isinstance(name_attr, str) else (gen_name(mod, cls["name"]) if name_attr is None else None)
            options = {k: v for k, v in attrs.items() if k != "abstract"}
            t = Task(
                name=name, function=f"{cls['qualname']}.run", file=mf.rel, line=cls["line"], decorator_line=None,
                module=mod, kind="class", decorator="", options=options, bind=True, is_async=run["is_async"],
                params=[Param(**p) for p in run["params"]], base=cls["bases"], nested=cls["nested"],
                in_loop=cls["in_loop"], features=run["features"], end_line=cls["end_line"],
                inherited_options=dict(conf_defaults), hooks=hooks,
            )
            tasks.append(t)
            symbol_to_task[(mod, cls["qualname"])] = t

    for factory_ref, named_alike in by_wrapper.items():
        if len(named_alike) > 1:
            # Celery registers the first under <factory module>.<wrapper>; the others get that same task back
            shared = named_alike[0].name
            fns = ", ".join(sorted(f"{t.module}.{t.function}" for t in named_alike))
            for t in named_alike:
                t.name = None
                t.options = {**t.options, "name": dynamic(
                    f"{shared}: {factory_ref} gives its wrapper no functools.wraps, so {fns} all get this name "
                    "and Celery keeps only the first one registered")}

    tasks.sort(key=lambda t: (t.file, t.line, t.function))
    reasons = {src: why for (_, src), why in why_unresolved.items()}
    for t in tasks:
        found: dict = {}
        for opts in (t.inherited_options, t.options):
            found.update(opts.pop(RESOLVED_KEY, None) or {})
        merged = {**t.inherited_options, **t.options}
        if found:
            t.features = {**t.features, "resolved": {k: v for k, v in sorted(found.items()) if k in merged}}
        unresolved = {k: reasons.get(v["dynamic"], "computed at run time") for k, v in sorted(merged.items())
                      if k in VALUE_OPTIONS and k != "name" and is_dynamic(v)}  # a computed name is SM103
        if unresolved and values is not None:
            t.features = {**t.features, "unresolved": unresolved}
    index.tasks = tasks

    def task_for_ref(ref: str | None) -> Task | None:
        r = res.resolve(ref) if ref else None
        if not r:
            return None
        mod, sym, rest = r
        t = symbol_to_task.get((mod, sym))
        if t and not rest:
            return t
        if rest and (mod, f"{sym}.{rest}") in symbol_to_task:
            return symbol_to_task[(mod, f"{sym}.{rest}")]
        return None

    # --- schedules ------------------------------------------------------------------------
    schedules: list[Schedule] = []
    for mod, mf in modules.items():
        for s in mf.facts.get("schedules", []):
            task = s["task"]
            if isinstance(task, dict) and "ref" in task:
                t = task_for_ref(task["ref"])
                task = t.name if t else dynamic(task.get("src") or task["ref"])
            entry = s["entry"]
            if s.get("entry_is_task") and isinstance(task, str):
                entry = task
            sch = Schedule(
                entry=entry, task=task, file=mf.rel, line=s["line"], module=mod, source=s["source"],
                container=s["container"], kind=s["kind"], celery=s["celery"], args=s["args"], kwargs=s["kwargs"],
                options=s["options"], relative=s["relative"], in_loop=s["in_loop"], from_settings=s["from_settings"],
            )
            if s.get("extra_keys"):
                sch.celery = {**sch.celery, "_extra_keys": s["extra_keys"]}
            schedules.append(sch)
    schedules.sort(key=lambda s: (s.file, s.line))
    index.schedules = schedules

    # --- calls ------------------------------------------------------------------------
    calls: list[Call] = []
    for mod, mf in modules.items():
        facts = mf.facts
        for c in facts.get("calls", []):
            task_name = c.get("task_name")
            if c["kind"] == "retry" and c.get("task_fn"):
                t = symbol_to_task.get((mod, c["task_fn"]))
                if t is None:
                    t = next((x for x in tasks if x.module == mod and x.function == c["task_fn"]), None)
                task_name = t.name if t else None
            elif c.get("target_ref") and not task_name:
                t = task_for_ref(c["target_ref"])
                task_name = t.name if t else None
            if task_name is None and c["kind"] in ("delay", "apply_async", "s", "si", "signature", "map",
                                                   "starmap", "chunks", "apply"):
                if not _plausible_dispatch(c, facts, res):
                    continue
            calls.append(Call(kind=c["kind"], file=mf.rel, line=c["line"], column=c["column"], module=mod,
                              target=c["target"], task=task_name, options=c["options"],
                              dynamic_name=c.get("dynamic_name"), on_commit=c["on_commit"],
                              in_function=c.get("in_function")))
    calls.sort(key=lambda c: (c.file, c.line, c.column))
    index.calls = calls
    return index


def _plausible_dispatch(c: dict, facts: dict, res: Resolver) -> bool:
    """An unresolved ``x.delay()``: keep it unless it is clearly not Celery."""
    target = c.get("target") or ""
    ref = c.get("target_ref") or ""
    last = target.rsplit(".", 1)[-1].lower()
    if c["kind"] == "apply_async":
        if "pool" in last or "executor" in last:
            return False
        first = c["options"].get("_first_positional")
        if first and (first.isidentifier() or first.replace(".", "").isidentifier()) and \
                not any(w in first.lower() for w in ("arg", "param", "payload", "data")):
            return False  # Pool.apply_async(func, ...): the first positional argument is a callable
    if c["kind"] in ("s", "si", "signature", "map", "starmap", "chunks", "apply"):
        return bool(facts.get("uses_celery")) and not ref.startswith("?")
    top = ref.lstrip("?").split(".")[0]
    if top in OTHER_TASK_LIBS:
        return False
    return True
