"""What native mode knows about the Django ORM: which models, fields and managers a project defines
(read from its source, never imported), which queryset methods only build a query, and which
blocking ORM calls have a faithful async counterpart in Django itself.

The facts relied on (Django 4.2 - 5.2, read in ``django/db/models/query.py``, ``base.py``,
``manager.py``, ``fields/related_descriptors.py``, ``query_utils.py``; docs/native.md lists them):

* ``QuerySet.aget/afirst/acount/...`` are ``return await sync_to_async(self.get)(...)``: the same sync
  method, run by asgiref in its thread-sensitive executor. ``async for obj in qs`` is
  ``await sync_to_async(self._fetch_all)()`` then iterating the result cache, as ``for`` does.
  ``Model.asave/adelete/arefresh_from_db`` are ``sync_to_async(self.save)(...)`` and so on, so a
  project's ``save()`` override still runs. Related managers' ``aadd/aremove/aclear/aset/acreate``
  wrap their sync twins the same way.
* A manager method is ``getattr(self.get_queryset(), name)(*args, **kwargs)`` (``manager.py``), so
  ``Book.objects.filter(...)`` runs ``get_queryset()`` where it is called: only managers whose
  ``get_queryset`` is Django's, or a project override that only chains query-building methods on
  ``super().get_queryset()``, are proven.
* ``filter``/``exclude``/``order_by``/``values``/... only build a query (``_chain()`` and a
  ``sql.Query``); a lookup's right-hand side is prepared then (``Lookup.get_prep_lookup`` calls the
  field's ``get_prep_value``), so a filter is proven only on Django's own field classes.
* A concrete field's value on a loaded instance is ``DeferredAttribute.__get__``: a read of
  ``instance.__dict__``, or ``refresh_from_db()`` (a query) when the field was deferred
  (``only()``/``defer()``). A forward foreign key or one-to-one read is a query unless cached; a
  related manager (``author.books``) is built without a query.
* Constructing a model runs ``pre_init``/``post_init`` receivers and field default callables:
  project code, so construction is never proven (``acreate`` runs it in the thread).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from saqmigrate.transform.blocking import Prover, _Module

_DB = (
    "django.db.models.",
    "django.db.models.fields.",
    "django.db.models.fields.related.",
    "django.db.models.fields.json.",
    "django.db.models.base.",
    "django.db.models.manager.",
)


def _names(*names: str) -> set[str]:
    return {p + n for p in _DB for n in names}


MODEL_BASES = _names("Model")
MANAGER_CLASSES = _names("Manager") | {  # Django's own, none overrides get_queryset
    "django.contrib.auth.models.UserManager",
    "django.contrib.auth.base_user.BaseUserManager",
    "django.contrib.auth.models.BaseUserManager",
}
QUERYSET_CLASSES = {"django.db.models.QuerySet", "django.db.models.query.QuerySet"}
#: Django's abstract models a project model may extend: (plain fields, many-to-many fields, managers)
_AUTH_BASE = ({"password", "last_login"}, set(), {})
_PERMISSIONS = ({"is_superuser"}, {"groups", "user_permissions"}, {})
_ABSTRACT_USER = (
    _AUTH_BASE[0]
    | _PERMISSIONS[0]
    | {"username", "first_name", "last_name", "email", "is_staff", "is_active", "date_joined"},
    _PERMISSIONS[1],
    {"objects": ""},
)
KNOWN_ABSTRACT = {
    "django.contrib.auth.base_user.AbstractBaseUser": _AUTH_BASE,
    "django.contrib.auth.models.AbstractBaseUser": _AUTH_BASE,
    "django.contrib.auth.models.PermissionsMixin": _PERMISSIONS,
    "django.contrib.auth.models.AbstractUser": _ABSTRACT_USER,
}
#: Django's own field classes whose value on a loaded instance is a plain ``__dict__`` read
PLAIN_FIELDS = _names(
    "AutoField",
    "BigAutoField",
    "SmallAutoField",
    "BigIntegerField",
    "BinaryField",
    "BooleanField",
    "CharField",
    "DateField",
    "DateTimeField",
    "DecimalField",
    "DurationField",
    "EmailField",
    "FilePathField",
    "FloatField",
    "GenericIPAddressField",
    "IPAddressField",
    "IntegerField",
    "JSONField",
    "NullBooleanField",
    "PositiveBigIntegerField",
    "PositiveIntegerField",
    "PositiveSmallIntegerField",
    "SlugField",
    "SmallIntegerField",
    "TextField",
    "TimeField",
    "URLField",
    "UUIDField",
)
FOREIGN_KEYS = _names("ForeignKey", "OneToOneField")
MANY_TO_MANY = _names("ManyToManyField")

#: queryset (and manager) methods that only build a query -> what the rows become
LAZY = {
    "all": "",
    "filter": "",
    "exclude": "",
    "order_by": "",
    "select_related": "",
    "prefetch_related": "",
    "distinct": "",
    "reverse": "",
    "annotate": "",
    "alias": "",
    "using": "",
    "none": "",
    "select_for_update": "",
    "only": "partial",
    "defer": "partial",
    "values": "data",
    "values_list": "data",
    "dates": "data",
    "datetimes": "data",
}
#: the lookups and transforms Django registers on its own fields (django.db.models.lookups, functions.datetime,
#: contrib.postgres): any other name in a filter was registered by the project or a third party
BUILTIN_LOOKUPS = frozenset(
    {
        "exact",
        "iexact",
        "contains",
        "icontains",
        "in",
        "gt",
        "gte",
        "lt",
        "lte",
        "startswith",
        "istartswith",
        "endswith",
        "iendswith",
        "range",
        "isnull",
        "regex",
        "iregex",
        "date",
        "year",
        "iso_year",
        "month",
        "day",
        "week",
        "week_day",
        "iso_week_day",
        "quarter",
        "time",
        "hour",
        "minute",
        "second",
        "contained_by",
        "overlap",
        "has_key",
        "has_keys",
        "has_any_keys",
        "search",
        "trigram_similar",
        "trigram_word_similar",
        "trigram_strict_word_similar",
        "unaccent",
        "len",
        "keys",
        "values",
        "isempty",
        "lower_inc",
        "lower_inf",
        "upper_inc",
        "upper_inf",
        "adjacent_to",
        "fully_lt",
        "fully_gt",
        "not_lt",
        "not_gt",
        "pk",
        "id",
    }
)
#: methods whose arguments are field paths checked against the model (lookups)
LOOKUP_METHODS = {"filter", "exclude"}
#: blocking queryset/manager methods -> (the async method Django defines, the kind of the result)
TERMINAL = {
    "get": ("aget", "row"),
    "first": ("afirst", "row"),
    "last": ("alast", "row"),
    "latest": ("alatest", "row"),
    "earliest": ("aearliest", "row"),
    "create": ("acreate", "instance"),
    "count": ("acount", "data"),
    "exists": ("aexists", "data"),
    "aggregate": ("aaggregate", "data"),
    "update": ("aupdate", "data"),
    "delete": ("adelete", "data"),
    "contains": ("acontains", "data"),
    "get_or_create": ("aget_or_create", "pair"),
    "update_or_create": ("aupdate_or_create", "pair"),
    "bulk_update": ("abulk_update", "data"),
    "in_bulk": ("ain_bulk", "unknown"),
    "bulk_create": ("abulk_create", "unknown"),
    "explain": ("aexplain", "data"),
}
#: on related managers only (``author.books.add(book)``)
RELATED = {"add": ("aadd", "data"), "remove": ("aremove", "data"), "clear": ("aclear", "data"), "set": ("aset", "data")}
#: model instance methods -> Model's async counterpart
INSTANCE = {"save": ("asave", "data"), "delete": ("adelete", "data"), "refresh_from_db": ("arefresh_from_db", "data")}
ASYNC_NAMES = {a for a, _ in [*TERMINAL.values(), *RELATED.values(), *INSTANCE.values()]}
#: async methods that call their sync twin with keywords the caller did not give (aget_or_create passes
#: defaults=None, asave passes force_insert/force_update/using/update_fields ...): a project override of the
#: sync method must accept them, or the port raises TypeError where the original did not
ADDS_ARGUMENTS = {"get_or_create", "update_or_create", "in_bulk", "bulk_create", "bulk_update", "explain", "contains"}
INSTANCE_KEYWORDS = {
    "save": {"force_insert", "force_update", "using", "update_fields"},
    "delete": {"using", "keep_parents"},
    "refresh_from_db": {"using", "fields", "from_queryset"},
}


def accepts(args: ast.arguments, keywords: set[str]) -> bool:
    """A signature that accepts these keyword arguments (a ``**kwargs``, or each one named)."""
    if args.kwarg is not None:
        return True
    named = {a.arg for a in [*args.args, *args.kwonlyargs]}
    return keywords <= named


#: Django expressions: building them is pure (resolved later, by the query)
EXPRESSIONS = {
    f"django.db.models.{n}"
    for n in (
        "Q",
        "F",
        "Value",
        "Count",
        "Sum",
        "Avg",
        "Max",
        "Min",
        "StdDev",
        "Variance",
        "Case",
        "When",
        "ExpressionWrapper",
        "OuterRef",
    )
} | {
    f"django.db.models.functions.{n}"
    for n in (
        "Lower",
        "Upper",
        "Coalesce",
        "Now",
        "Length",
        "Concat",
        "Greatest",
        "Least",
        "TruncDate",
        "TruncDay",
        "TruncHour",
        "TruncMonth",
        "TruncYear",
        "ExtractYear",
        "ExtractMonth",
        "ExtractDay",
        "Cast",
        "Abs",
    )
}


@dataclass
class ModelInfo:
    ref: str  # "module:Class"
    label: str  # Class
    app_label: str
    plain: set[str] = field(default_factory=set)  # attributes read from __dict__ on a loaded instance
    relations: dict[str, str] = field(default_factory=dict)  # forward fk / o2o field -> target ref ("" unknown)
    m2m: dict[str, str] = field(default_factory=dict)  # forward many-to-many field -> target ref
    fields: set[str] = field(default_factory=set)  # every field name (a lookup's first part)
    managers: dict[str, str] = field(default_factory=dict)  # attribute -> "" (proven) or why not
    default_manager: str | None = None
    methods: set[str] = field(default_factory=set)  # defined by the project's classes in the model's MRO
    signatures: dict[str, ast.arguments] = field(default_factory=dict)  # the first definition of each
    problem: str = ""  # why this model is not known well enough (a third-party base ...)
    json: set[str] = field(default_factory=set)  # JSONField names: any key is a transform (KeyTransform)


class DjangoModels:
    """Project models read from source through the prover's module loader; cached per model."""

    def __init__(self, prover: Prover) -> None:
        self.p = prover
        self._info: dict[str, ModelInfo | None] = {}
        self._busy: set[str] = set()
        self._managers: dict[str, str] = {}
        self._querysets: dict[str, str] = {}

    # --- which classes are models --------------------------------------------------------------
    def _ref_of(self, mod: _Module, node: ast.expr) -> str | None:
        """The dotted name a class-level expression denotes (a base, a field class, a manager class)."""
        from saqmigrate.index.extract import _name

        name = _name(node)
        if not name:
            return None
        head, _, rest = name.partition(".")
        if head in mod.classes:
            return f"{mod.name}:{head}" if not rest else None
        target = mod.imports.get(head)
        if target is None:
            return None
        t = self.p.resolve(target + (f".{rest}" if rest else ""))
        if t.kind == "cls":
            return t.ref
        return t.ref if t.kind == "ref" else None

    def info(self, ref: str) -> ModelInfo | None:
        """The model a class reference denotes, or None when it is not a Django model of the project."""
        if ref in self._info:
            return self._info[ref]
        if ref in self._busy:
            return None
        self._busy.add(ref)
        try:
            info = self._build(ref)
        finally:
            self._busy.discard(ref)
        self._info[ref] = info
        return info

    def _build(self, ref: str) -> ModelInfo | None:
        modname, _, name = ref.partition(":")
        mod = self.p.module(modname)
        cls = mod.classes.get(name) if mod else None
        if mod is None or cls is None:
            return None
        bases = self._read_bases(mod, cls)
        if bases is None:
            return None
        parents, mixins, known, problem = bases
        meta_values = self._meta_values(cls)
        info = ModelInfo(ref, name, self._app_label(modname, meta_values), problem=problem)
        has_pk = self._inherit(info, parents, known)
        info.signatures, methods = self._signatures(cls, mixins, parents)
        info.methods |= methods
        own_managers, own_pk = self._read_fields(info, mod, name, cls)
        has_pk = has_pk or own_pk
        self._settle_managers(info, parents, own_managers, meta_values)
        if not has_pk and not parents:
            info.plain.add("id")
            info.fields.add("id")
        if has_pk:
            info.methods.add("pk:explicit")
        info.plain.add("pk")
        self._drop_shadowed(info, ref)
        return info

    def _drop_shadowed(self, info: ModelInfo, ref: str) -> None:
        """A field name that a class earlier in the model's MRO binds otherwise (a ``@property`` in the model, a
        mixin listed before an abstract base, a proxy subclass, a descriptor) is read through that binding,
        not from the instance's ``__dict__``: not a plain field. A base the prover cannot see: none is."""
        from saqmigrate.transform.blocking import T

        order = self.p.mro(T("cls", ref))
        if isinstance(order, str):
            info.plain.clear()
            info.problem = info.problem or order
            return
        for attr in list(info.plain):
            for c in order:
                if c.kind != "cls":
                    continue
                mod = self.p.module(c.ref.partition(":")[0])
                cls = mod.classes.get(c.ref.partition(":")[2]) if mod else None
                stmt = _binding(cls, attr) if cls is not None else None
                if stmt is None:
                    continue
                if not (
                    isinstance(stmt, ast.Assign)
                    and isinstance(stmt.value, ast.Call)
                    and mod is not None
                    and self._ref_of(mod, stmt.value.func) in PLAIN_FIELDS
                ):
                    info.plain.discard(attr)
                break

    def _read_bases(
        self, mod: _Module, cls: ast.ClassDef
    ) -> tuple[list[ModelInfo], list[str], list[tuple[set[str], set[str], dict[str, str]]], str] | None:
        """The model's parents, plain mixins, Django abstract bases and the first unreadable base; None
        when the class is not a model."""
        parents: list[ModelInfo] = []
        mixins: list[str] = []
        known: list[tuple[set[str], set[str], dict[str, str]]] = []
        is_model = False
        problem = ""
        for node in cls.bases:
            b = self._ref_of(mod, node)
            if b in MODEL_BASES:
                is_model = True
            elif b in KNOWN_ABSTRACT:
                is_model = True
                known.append(KNOWN_ABSTRACT[b])
            elif b and ":" in b:
                parent = self.info(b)
                if parent is not None:
                    is_model = True
                    parents.append(parent)
                else:
                    problem = problem or self._mixin_problem(b)
                    mixins.append(b)
            else:
                problem = problem or f"a base class that is not read ({ast.unparse(node)})"
        return (parents, mixins, known, problem) if is_model else None

    @staticmethod
    def _meta_values(cls: ast.ClassDef) -> dict[str, ast.expr]:
        meta = next((s for s in cls.body if isinstance(s, ast.ClassDef) and s.name == "Meta"), None)
        values: dict[str, ast.expr] = {}
        for s in meta.body if meta else []:
            if isinstance(s, ast.Assign) and len(s.targets) == 1 and isinstance(s.targets[0], ast.Name):
                values[s.targets[0].id] = s.value
        return values

    @staticmethod
    def _app_label(modname: str, meta_values: dict[str, ast.expr]) -> str:
        label = meta_values.get("app_label")
        if isinstance(label, ast.Constant):
            return str(label.value)
        if modname.count(".") >= 1 and modname.endswith(".models"):
            return modname.rsplit(".", 2)[-2]
        return modname.split(".")[-1]

    @staticmethod
    def _inherit(
        info: ModelInfo, parents: list[ModelInfo], known: list[tuple[set[str], set[str], dict[str, str]]]
    ) -> bool:
        """Copy what the parents and Django's abstract user models give; True when a parent sets the pk."""
        has_pk = False
        for parent in parents:
            info.plain |= parent.plain
            info.relations.update(parent.relations)
            info.m2m.update(parent.m2m)
            info.fields |= parent.fields
            info.methods |= parent.methods
            info.problem = info.problem or parent.problem
            has_pk = has_pk or "pk:explicit" in parent.methods
        for plain, m2m, managers in known:
            info.plain |= plain
            info.fields |= plain | m2m
            info.m2m.update({f: "" for f in m2m})
            for k, v in managers.items():
                info.managers.setdefault(k, v)
        return has_pk

    def _signatures(
        self, cls: ast.ClassDef, mixins: list[str], parents: list[ModelInfo]
    ) -> tuple[dict[str, ast.arguments], set[str]]:
        """Method signatures: the model's own first, then its plain mixins' (attribute hooks included),
        then its parents'. Their names are the model's methods too (recorded on the way)."""
        signatures: dict[str, ast.arguments] = {}
        bodies: list[list[ast.stmt]] = [cls.body]
        for ref in mixins:
            mm = self.p.module(ref.partition(":")[0])
            mcls = mm.classes.get(ref.partition(":")[2]) if mm else None
            bodies.append(mcls.body if mcls else [])
        names: set[str] = set()
        for body in bodies:
            for stmt in body:
                if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    names.add(stmt.name)
                    signatures.setdefault(stmt.name, stmt.args)
        for parent in parents:
            for k, v in parent.signatures.items():
                signatures.setdefault(k, v)
        return signatures, names

    def _read_fields(self, info: ModelInfo, mod: _Module, name: str, cls: ast.ClassDef) -> tuple[list[str], bool]:
        """Fields, relations and managers declared in the class body; the managers it declares and
        whether one of its fields is the primary key."""
        own_managers: list[str] = []
        has_pk = False
        for stmt in cls.body:
            if not (
                isinstance(stmt, ast.Assign)
                and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)
                and isinstance(stmt.value, ast.Call)
            ):
                continue
            attr, value = stmt.targets[0].id, stmt.value
            kind = self._ref_of(mod, value.func)
            kw = {k.arg: k.value for k in value.keywords if k.arg}
            is_pk = isinstance(kw.get("primary_key"), ast.Constant) and kw["primary_key"].value is True
            if kind in PLAIN_FIELDS:
                info.fields.add(attr)
                info.plain.add(attr)
                has_pk = has_pk or is_pk
                if kind.endswith("JSONField"):
                    info.json.add(attr)
            elif kind in FOREIGN_KEYS:
                info.fields.add(attr)
                info.plain.add(f"{attr}_id")  # the column's attname, whatever db_column says
                info.relations[attr] = self._target(mod, name, value)
                has_pk = has_pk or is_pk
            elif kind in MANY_TO_MANY:
                info.fields.add(attr)
                info.m2m[attr] = self._target(mod, name, value)
            elif kind is not None and (kind in MANAGER_CLASSES or ":" in kind):
                why = self.manager_problem(kind, value)
                if why is not None:
                    info.managers[attr] = why
                    own_managers.append(attr)
                else:
                    info.fields.add(attr)  # a field class of the project or a third party: not plain
            elif (
                isinstance(value.func, ast.Attribute)
                and value.func.attr == "as_manager"
                or (
                    isinstance(value.func, ast.Call)
                    and isinstance(value.func.func, ast.Attribute)
                    and value.func.func.attr == "from_queryset"
                )
            ):
                info.managers[attr] = self._built_manager_problem(mod, value)
                own_managers.append(attr)
            else:
                info.fields.add(attr)  # some other field class: its value is not proven plain
        return own_managers, has_pk

    @staticmethod
    def _settle_managers(
        info: ModelInfo, parents: list[ModelInfo], own_managers: list[str], meta_values: dict[str, ast.expr]
    ) -> None:
        """Inherited managers, Django's implicit `objects`, and which one is the default manager."""
        inherited = {k: v for parent in parents for k, v in parent.managers.items()}
        for k, v in inherited.items():
            info.managers.setdefault(k, v)
        if not info.managers and not info.problem:
            info.managers["objects"] = ""  # Django adds `objects` when no manager is declared
        dmn = meta_values.get("default_manager_name")
        if isinstance(dmn, ast.Constant) and isinstance(dmn.value, str):
            info.default_manager = dmn.value
        elif own_managers:
            info.default_manager = own_managers[0]
        elif parents and parents[0].default_manager:
            info.default_manager = parents[0].default_manager
        elif "objects" in info.managers:
            info.default_manager = "objects"

    def _mixin_problem(self, ref: str) -> str:
        """A project base that is not a model: a plain mixin is fine unless it changes attribute access."""
        modname, _, name = ref.partition(":")
        mod = self.p.module(modname)
        cls = mod.classes.get(name) if mod else None
        if cls is None:
            return f"a base class that cannot be read ({ref.replace(':', '.')})"
        if cls.bases and not all(isinstance(b, ast.Name) and b.id == "object" for b in cls.bases):
            return f"a base class that is not proven ({ref.replace(':', '.')})"
        return ""

    def _target(self, mod: _Module, own: str, call: ast.Call) -> str:
        """The model a relation points to: a class, "self", "Model" or "app_label.Model" ("" when unknown)."""
        arg = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "to"), None)
        if arg is None:
            return ""
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            text = arg.value
            if text == "self":
                return f"{mod.name}:{own}"
            if "." not in text:
                return f"{mod.name}:{text}" if text in mod.classes else ""
            app, _, cls = text.rpartition(".")
            # "app_label.Model": the models module of that app, as a top-level package or a sibling of this
            # one (deterministic: what files exist, never what happens to be loaded already)
            parent = mod.name.rsplit(".", 2)[0] if mod.name.count(".") >= 2 else ""
            for name in dict.fromkeys([f"{app}.models", *([f"{parent}.{app}.models"] if parent else [])]):
                m = self.p.module(name)
                if m is not None and cls in m.classes:
                    info = self.info(f"{m.name}:{cls}")
                    if info is not None and info.app_label == app:
                        return info.ref
            return ""
        ref = self._ref_of(mod, arg)
        return ref if ref and ":" in ref else ""

    # --- managers ------------------------------------------------------------------------------
    def manager_problem(self, cls_ref: str, call: ast.Call | None = None) -> str | None:
        """None when ``cls_ref`` is not a manager class; "" when it is a proven manager class
        (Django's, or a project subclass that only narrows ``get_queryset``); else why not."""
        if cls_ref in MANAGER_CLASSES:
            return ""
        if cls_ref in self._managers:
            return self._managers[cls_ref]
        self._managers[cls_ref] = None  # type: ignore[assignment] - a cycle: not a manager
        modname, _, name = cls_ref.partition(":")
        mod = self.p.module(modname)
        cls = mod.classes.get(name) if mod else None
        result: str | None = None
        if cls is not None:
            bases = [self._ref_of(mod, b) for b in cls.bases]
            if any(b in MANAGER_CLASSES or (b and ":" in b and self.manager_problem(b) is not None) for b in bases):
                result = ""
                for b in bases:
                    why = (
                        self.manager_problem(b)
                        if b and ":" in b
                        else ("" if b in MANAGER_CLASSES else f"a base that is not proven ({b})")
                    )
                    if why:
                        result = why
                        break
                if not result:
                    result = self._manager_body_problem(mod, cls)
        self._managers[cls_ref] = result  # type: ignore[assignment]
        return result

    def _manager_body_problem(self, mod: _Module, cls: ast.ClassDef) -> str:
        for stmt in cls.body:
            if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            if stmt.name in TERMINAL or stmt.name in LAZY or stmt.name in ASYNC_NAMES or stmt.name.startswith("__"):
                return f"the manager class {cls.name} defines {stmt.name}()"
            if stmt.name == "get_queryset" and not self._narrowing(mod, stmt):
                return f"{cls.name}.get_queryset() does more than narrow super().get_queryset()"
        return ""

    def queryset_problem(self, cls_ref: str | None) -> str:
        """ "" when ``cls_ref`` is Django's QuerySet or a project subclass whose query building is Django's:
        it may override the blocking methods (``delete()`` for a soft delete ...), which the async ones call
        in the thread (``adelete`` is ``sync_to_async(self.delete)``), but not a query-building method, an
        async one, iteration or cloning, which would run on the loop. Else why not."""
        if cls_ref in QUERYSET_CLASSES:
            return ""
        if not cls_ref or ":" not in cls_ref:
            return f"a queryset class that is not read ({cls_ref})"
        if cls_ref in self._querysets:
            return self._querysets[cls_ref]
        self._querysets[cls_ref] = "a queryset class defined in terms of itself"
        modname, _, name = cls_ref.partition(":")
        mod = self.p.module(modname)
        cls = mod.classes.get(name) if mod else None
        why = f"a queryset class that cannot be read ({cls_ref})"
        if mod is not None and cls is not None:
            bases = [self._ref_of(mod, b) for b in cls.bases]
            why = (
                next((w for w in (self.queryset_problem(b) for b in bases) if w), "")
                if bases
                else f"{name} is not a QuerySet"
            )
            for stmt in cls.body:
                if (
                    isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef))
                    and not why
                    and (
                        stmt.name in LAZY
                        or stmt.name in ASYNC_NAMES
                        or stmt.name.startswith("__")
                        or stmt.name in ("_clone", "_chain", "_fetch_all", "_filter_or_exclude", "iterator")
                        or stmt.name in ADDS_ARGUMENTS
                    )
                ):
                    why = f"the queryset class {name} defines {stmt.name}()"
        self._querysets[cls_ref] = why
        return why

    def _built_manager_problem(self, mod: _Module, call: ast.Call) -> str:
        """``QS.as_manager()`` / ``Manager.from_queryset(QS)()``: proven when both classes are."""
        func = call.func
        if isinstance(func, ast.Attribute) and func.attr == "as_manager":
            return self.queryset_problem(self._ref_of(mod, func.value))
        inner = func  # Manager.from_queryset(QS)
        assert isinstance(inner, ast.Call) and isinstance(inner.func, ast.Attribute)
        manager = self._ref_of(mod, inner.func.value)
        why = self.manager_problem(manager) if manager else "a manager class that is not read"
        if why is None:
            why = f"{ast.unparse(inner.func.value)} is not a manager class"
        qs = self._ref_of(mod, inner.args[0]) if len(inner.args) == 1 else None
        return why or self.queryset_problem(qs)

    def _narrowing(self, mod: _Module, fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
        """``return super().get_queryset().filter(<constants>)...`` or ``return QS(self.model, using=self._db)
        .filter(...)`` with a proven queryset class: builds a query, nothing else. Not ``only()``, ``defer()``
        or ``values()``: the rows would not be whole instances (reading a deferred field is a query)."""
        body = [s for s in fn.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
        if len(body) != 1 or not isinstance(body[0], ast.Return) or body[0].value is None:
            return False
        node = body[0].value
        while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in LAZY:
            if LAZY[node.func.attr]:  # only()/defer()/values(): every row it gives is partial or not a model
                return False
            if not all(_constant(a) for a in [*node.args, *(k.value for k in node.keywords)]):
                return False
            if any(k.arg is None for k in node.keywords):
                return False
            node = node.func.value
        if not isinstance(node, ast.Call):
            return False
        if (
            not node.args
            and not node.keywords
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get_queryset"
            and isinstance(node.func.value, ast.Call)
            and isinstance(node.func.value.func, ast.Name)
            and node.func.value.func.id == "super"
        ):
            return True
        # QS(self.model, using=self._db[, hints=self._hints]): what Manager.get_queryset does, with QS
        expected = {"model": "self.model", "using": "self._db", "hints": "self._hints"}
        given = {k.arg: ast.unparse(k.value) for k in node.keywords}
        if node.args:
            if len(node.args) > 1 or ast.unparse(node.args[0]) != "self.model" or "model" in given:
                return False
            given["model"] = "self.model"
        if given.get("model") != "self.model" or any(expected.get(k) != v for k, v in given.items()):
            return False
        return self.queryset_problem(self._ref_of(mod, node.func)) == ""

    def manager(self, model: ModelInfo, attr: str) -> str | None:
        """None when ``Model.attr`` is a proven manager; else why not."""
        if attr in ("_default_manager", "_base_manager"):
            if attr == "_base_manager":
                return "Model._base_manager (not read from source)"
            attr = model.default_manager or ""
        if attr not in model.managers:
            return f"{model.label}.{attr} is not a manager the model declares"
        return model.managers[attr] or None

    def related(self, model: ModelInfo, attr: str) -> tuple[str, str] | None:
        """``instance.attr`` as a related manager: (the related model's ref, why not or "")."""
        if attr in model.m2m:
            target = model.m2m[attr]
            other = self.info(target) if target else None
            if other is None:
                return (target, f"the target of {model.label}.{attr} is not known")
            return (target, other.problem or self.manager(other, "_default_manager") or "")
        # reverse relations declared in the model's own module (others are not searched: a verdict must not
        # depend on which modules earlier tasks happened to load)
        modname = model.ref.partition(":")[0]
        for m in [self.p.module(modname)]:
            if m is None:
                continue
            for cname, cls in m.classes.items():
                for stmt in cls.body:
                    if not (
                        isinstance(stmt, ast.Assign)
                        and len(stmt.targets) == 1
                        and isinstance(stmt.targets[0], ast.Name)
                        and isinstance(stmt.value, ast.Call)
                    ):
                        continue
                    kind = self._ref_of(m, stmt.value.func)
                    if kind not in FOREIGN_KEYS and kind not in MANY_TO_MANY:
                        continue
                    if kind.endswith("OneToOneField"):
                        continue  # the reverse of a one-to-one is an instance: a query
                    kw = {k.arg: k.value for k in stmt.value.keywords if k.arg}
                    rn = kw.get("related_name")
                    if rn is not None:
                        if not (isinstance(rn, ast.Constant) and isinstance(rn.value, str)) or "%" in rn.value:
                            continue
                        accessor = rn.value
                    else:
                        accessor = f"{cname.lower()}_set"
                    if accessor != attr:
                        continue
                    other = self.info(f"{m.name}:{cname}")
                    if other is None or self._target(m, cname, stmt.value) != model.ref:
                        continue
                    # the related manager subclasses the related model's default manager class
                    why = other.problem or self.manager(other, "_default_manager") or ""
                    return (other.ref, why)
        return None

    # --- lookups --------------------------------------------------------------------------------
    def lookup_ok(self, model: ModelInfo, path: str, hops: int = 0) -> bool:
        """A filter keyword (``author__name__icontains``) only touches Django's own field classes."""
        head, _, rest = path.partition("__")
        if head in model.json:
            return True  # any key is a KeyTransform of Django's JSONField
        if head == "pk" or head in model.plain:
            # Django's own transforms and lookups; a name the project registered (Field.register_lookup) runs
            # the project's code (get_prep_lookup, as_sql) when the query is built, on the loop
            return all(part in BUILTIN_LOOKUPS for part in rest.split("__")) if rest else True
        if head in model.relations or head in model.m2m:
            target = model.relations.get(head) or model.m2m.get(head) or ""
            if not rest:
                return True
            other = self.info(target) if target else None
            if other is None or hops > 4:
                return rest in ("in", "isnull", "exact", "id", "pk")
            return self.lookup_ok(other, rest, hops + 1)
        return False


def _constant(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, (ast.Tuple, ast.List)):
        return all(_constant(e) for e in node.elts)
    return False


def _binding(cls: ast.ClassDef, attr: str) -> ast.stmt | None:
    """The statement of a class body that binds ``attr`` (the last one), or None."""
    found = None
    for stmt in cls.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and stmt.name == attr:
            found = stmt
        targets = (
            stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target] if isinstance(stmt, ast.AnnAssign) else []
        )
        if any(isinstance(x, ast.Name) and x.id == attr for x in targets):
            found = stmt
    return found
