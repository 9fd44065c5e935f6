"""The contract between ``index/extract.py`` (one module -> its facts) and ``index/resolve.py`` (facts of
every module -> a ProjectIndex).

Facts are plain JSON data (TypedDicts, not classes): the scan caches them per file as they are
(``saqmigrate/cache.py``), so a change of shape here must bump ``FACTS_VERSION`` in extract.py, which
invalidates every cache. Keys a producer may leave out are ``NotRequired``; an imports-only module
(``extract_imports_only``: a file without Celery trigger words that resolution still needs) carries
only the ``ImportFacts`` keys.

Values taken from source code (option values, defaults, schedule fields ...) are ``Value``: a JSON-safe
literal, or ``{"dynamic": "<source text>"}`` when the code does not show a literal (``model.dynamic``).
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypeAlias, TypedDict

# A literal value made JSON-safe, or {"dynamic": src} (index/model.py dynamic()): any JSON value.
Value: TypeAlias = Any
Options: TypeAlias = dict[str, Value]  # keyword option -> Value (plus "**" for a ``**kwargs`` spread)


class ParamFact(TypedDict):
    name: str
    kind: str  # positional_only | positional | keyword_only | var_positional | var_keyword (model.Param)
    default: Value
    has_default: bool


class Features(TypedDict):
    """What a task body does (extract._features); resolve.py adds keys to the Task's copy (model.Task.features)."""

    request_attrs: list[str]
    self_retry: bool
    update_state: bool
    blocking: dict[str, int]  # label -> first line
    uses_first_arg: bool
    self_replace: bool


class FunctionFact(TypedDict):
    """A module-level function (a possible ``app.task(fn)`` registration)."""

    line: int
    params: list[ParamFact]
    is_async: bool
    end_line: int
    features: Features


class MethodFact(TypedDict):
    line: int
    # only for ``run`` (the body of a class-based task)
    params: NotRequired[list[ParamFact]]
    is_async: NotRequired[bool]
    features: NotRequired[Features]
    end_line: NotRequired[int]


class ClassFact(TypedDict):
    name: str
    qualname: str
    line: int
    bases: list[str]  # references ("<expr>" when a base is not a name)
    attrs: dict[str, Value]  # Celery Task option attributes set in the class body
    methods: dict[str, MethodFact]
    nested: bool
    in_loop: bool
    end_line: int
    decorators: list[str]


class DecoratorCandidate(TypedDict):
    """One decorator of a function (whether it is a Celery task decorator is resolve.py's decision)."""

    ref: str
    src: str
    options: Options
    args: list[Value]
    is_call: bool
    line: int


class DecoratedFact(TypedDict):
    function: str  # qualified name inside the module
    name: str
    line: int
    decorators: list[DecoratorCandidate]
    is_async: bool
    params: list[ParamFact]
    nested: bool
    in_loop: bool
    features: Features
    end_line: int
    factory: NotRequired[str]  # the wrapper inside this decorator factory (not a task of its own)


class AliasFact(TypedDict):
    """``task = app.task`` / ``x = shared_task(bind=True)`` / ``partial(app.task, ...)``."""

    ref: str
    options: Options
    line: int
    is_call: bool
    module_level: NotRequired[bool]


class RegistrationFact(TypedDict):
    """``app.task(fn)`` / ``app.register_task(X())``."""

    ref: str
    options: Options
    fn: str  # reference of the registered callable (or its source)
    fn_src: str
    bound: str | None  # the module-level name the result is assigned to
    line: int
    in_loop: bool
    nested: bool
    class_instance: NotRequired[bool]  # register_task(instance)
    factory: NotRequired[str]  # inside this decorator factory


class FactoryParam(TypedDict):
    param: str
    index: int | None  # positional index (None: keyword-only)
    default: Value
    has_default: bool


class DecoratorFactoryFact(TypedDict):
    """A module-level class or function that builds Celery tasks (extract._decorator_factories)."""

    line: int
    form: Literal["class", "function"]
    called: bool  # used as @f(...) (True) or @f (False)
    own_params: dict[str, int | None]
    task_ref: str  # the decorator it applies
    task_src: str
    named_after: Literal["function", "wrapper"]
    wrapper: str | None
    fixed: Options  # literal options written inside
    params: dict[str, FactoryParam]  # option -> the factory parameter it comes from
    pass_kwargs: bool  # **kwargs passed through to the decorator
    clash: NotRequired[list[str]]  # fixed options beside **kwargs: a call giving one too raises TypeError
    over: NotRequired[list[str]]  # fixed options that win over the call's (kwargs["k"] = v, **{**kwargs, "k": v})
    either: NotRequired[bool]  # pass-through (*args, **kwargs): used both as @f(...) and bare @f
    fixed_modules: NotRequired[dict[str, str]]  # a chain of factories (resolve only): option -> module writing it


class AppFact(TypedDict):
    name: str
    line: int
    kind: Literal["instance", "subclass"]
    main: Value
    task_cls: Value
    options: Options
    config_from_object: list[dict[str, Value]]
    in_function: bool


class SourceFact(TypedDict):
    """What a config source expression is (extract.Extractor._source_fact)."""

    kind: Literal["flask_config", "flask_config_all", "import_path", "mapping", "local", "expr"]
    src: str
    key: NotRequired[str]  # flask_config
    path: NotRequired[str]  # import_path
    items: NotRequired[dict[str, ItemFact]]  # mapping
    why: NotRequired[str]  # local


class ItemFact(TypedDict, total=False):
    """One value of a config mapping: a literal ``value`` or a ``source`` to evaluate."""

    value: Value
    source: SourceFact


class ConfigSourceValue(TypedDict, total=False):
    """``config_from_object(obj, namespace=)`` / ``conf.update(...)`` / ``Celery(config_source=, changes=)``."""

    obj: Value
    namespace: Value
    source: SourceFact
    line: int
    via: str


class AppTaskSet(TypedDict):
    """``app.Task = X``: value is "module:Name" when resolved, else the source text."""

    app: str | None
    attr: Literal["Task"]
    value: str
    line: int


class AppConfigSet(TypedDict):
    app: str | None
    attr: Literal["config_from_object", "conf.update"]
    value: ConfigSourceValue
    line: int


AppAttrSet: TypeAlias = AppTaskSet | AppConfigSet


class SettingFact(TypedDict):
    name: str  # normalised (timezone, task_routes, ...)
    raw_name: str
    value: Value
    line: int
    layer: NotRequired[Literal["changes", "source"]]  # "changes": app.conf.x = v / conf.update / Celery(x=)
    app: NotRequired[str | None]  # the app a change applies to (a reference)
    why: NotRequired[str]  # why the value cannot be evaluated at module level


class FlaskConfigFact(TypedDict):
    """A write to (or a loader of) a Flask app's config."""

    kind: Literal["set", "mutation", "unknown", "from_object", "env", "loader"]
    line: int
    func: str | None  # the enclosing function
    src: NotRequired[str]
    key: NotRequired[str]  # set, mutation
    how: NotRequired[str]  # set: from_mapping | update | setdefault | item
    value: NotRequired[Value]  # set: a literal ...
    source: NotRequired[SourceFact]  # ... or a source (from_object too)
    prefix: NotRequired[str | None]  # env


class TaskRef(TypedDict):
    """A task named by reference (add_periodic_task(sig=f.s()), @periodic_task): resolve.py finds its name."""

    ref: str | None
    src: str


class ScheduleFact(TypedDict):
    entry: str | None
    task: Value | TaskRef | None  # task name, a reference, dynamic(...) or None
    line: int
    source: str
    container: str
    kind: str  # crontab | interval | schedule | solar | custom | dynamic
    celery: dict[str, Value]
    args: Value
    kwargs: Value
    options: Value
    relative: Value
    in_loop: bool
    from_settings: bool
    entry_is_task: NotRequired[bool]  # @periodic_task: the entry is named after the task
    extra_keys: NotRequired[list[str]]
    entry_src: NotRequired[str | None]
    entry_default: NotRequired[bool]  # add_periodic_task without name=: Celery names it repr(sig)


class CallFact(TypedDict):
    kind: str
    line: int
    column: int
    target: str
    target_ref: str | None
    options: Options
    on_commit: bool
    dynamic_name: str | None
    task_name: str | None
    task_fn: str | None  # self.retry(): the task function it is in
    in_function: str | None


class AttrWriteFact(TypedDict):
    """A write to an attribute of a name this file imports or defines (``helpers.shout = slow`` in a function,
    ``Fmt.up = staticmethod(slow)`` after the class body, ``setattr(h, "shout", f)``, ``del h.shout``): the native
    prover (transform/blocking.py) resolves ``target`` project-wide; a write to an attribute of a project module
    or class replaces what the source defines. Only writes whose name the file binds by an import (in the
    function or at module level) or a module-level class are recorded (extract.attribute_writes)."""

    line: int
    target: str  # the owner as a dotted reference: the written head resolved through this file's imports
    attr: str | None  # None: setattr/delattr with a computed name (any attribute)
    how: Literal["set", "del", "item"]  # item: a store into the attribute's container (``helpers.CACHE[k] = v``)
    src: str  # as written: "helpers.shout", "setattr(helpers, name)"


class ImportFacts(TypedDict):
    """Every module's facts have these; an imports-only module has only these."""

    v: int  # FACTS_VERSION
    module: str
    is_package: bool
    imports: dict[str, str]  # local name -> dotted reference
    star_imports: list[str]
    defs: dict[str, str]  # module-level name -> function | class | assign
    imports_only: NotRequired[bool]


class Facts(ImportFacts):
    """One parsed module's Celery facts (extract.extract)."""

    assign_calls: NotRequired[dict[str, str]]  # name = <call ref>(...)
    assign_lines: NotRequired[dict[str, int]]
    apps: NotRequired[list[AppFact]]
    app_attr_sets: NotRequired[list[AppAttrSet]]
    decorated: NotRequired[list[DecoratedFact]]
    aliases: NotRequired[dict[str, AliasFact]]
    decorator_factories: NotRequired[dict[str, DecoratorFactoryFact]]
    task_builders: NotRequired[dict[str, list[str]]]  # function/class -> task-decorator-like refs it calls
    registrations: NotRequired[list[RegistrationFact]]
    classes: NotRequired[list[ClassFact]]
    factories: NotRequired[list[str]]  # functions that build a Celery app
    functions: NotRequired[dict[str, FunctionFact]]
    schedules: NotRequired[list[ScheduleFact]]
    calls: NotRequired[list[CallFact]]
    settings: NotRequired[list[SettingFact]]
    uses_celery: NotRequired[bool]
    # line -> rule codes ("*": all); the keys are strings after a JSON cache round trip
    suppress: NotRequired[dict[int, list[str]] | dict[str, list[str]]]
    django_settings: NotRequired[list[Value]]  # DJANGO_SETTINGS_MODULE values set here
    flask_config: NotRequired[list[FlaskConfigFact]]
    uses_django: NotRequired[bool]
    recovered: NotRequired[list[str]]  # added by scan.py: what the tolerant parser skipped
    attr_writes: NotRequired[list[AttrWriteFact]]
