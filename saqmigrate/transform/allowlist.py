"""What native mode knows to be non-blocking, and the names of the families it knows to block.

``rewrite --mode native`` assumes every call blocks until it is proven otherwise
(``transform/blocking.py``). A call is proven non-blocking only by this table:

* ``PURE_BUILTINS``: builtins that compute (no ``open``, ``input``, ``exec`` ...);
* ``PURE_FUNCTIONS``: stdlib (and a few well-known third-party) functions and classes that only
  compute or read the clock, each with the kind of value it returns;
* ``PURE_PREFIXES``: whole stdlib modules of pure functions (``math.``, ``itertools.`` ...);
* ``METHODS``: per kind of value, the methods that are pure. A value's kind is known only from how it
  was built (a literal, a constructor or pure function above, a task argument: SAQ delivers JSON);
* ``ASYNC_REPLACEMENTS``: blocking calls the porter rewrites in the task body (``time.sleep``).

Everything else blocks; ``family()`` only names *why* for the report. To extend the allowlist, add the
dotted name here with the kind of value it returns, and a test in ``tests/rewrite/test_native_blocking.py``
(docs/native.md).
"""

from __future__ import annotations

import builtins
import functools
import importlib.machinery
import importlib.util
import re
import sys

from saqmigrate.transform.ports_django import EXPRESSIONS

# --- kinds of values ---------------------------------------------------------------------------
DATA = "data"  # plain data: str bytes int float bool None list dict set tuple, datetime, Decimal, UUID
LOGGER = "logger"
PATTERN = "pattern"  # re.Pattern
MATCH = "match"  # re.Match
HASH = "hash"  # hashlib / hmac objects
SAFE_CM = "safe_cm"  # a context manager whose __enter__/__exit__ are pure (contextlib.suppress)

_EXCEPTIONS = {n for n, v in vars(builtins).items() if isinstance(v, type) and issubclass(v, BaseException)}

#: builtin name -> kind returned ("args": data when every argument is data, else unknown)
PURE_BUILTINS: dict[str, str] = {
    **{
        n: DATA
        for n in (
            "abs",
            "ascii",
            "bin",
            "bool",
            "callable",
            "chr",
            "complex",
            "divmod",
            "float",
            "format",
            "hasattr",
            "hash",
            "hex",
            "id",
            "int",
            "isinstance",
            "issubclass",
            "len",
            "oct",
            "ord",
            "pow",
            "repr",
            "round",
            "str",
            "bytes",
            "bytearray",
            "range",
            "slice",
            "print",
            "setattr",
            "delattr",
            "object",
        )
    },
    "type": "unknown",
    **{
        n: "args"
        for n in (
            "all",
            "any",
            "dict",
            "enumerate",
            "filter",
            "frozenset",
            "iter",
            "list",
            "map",
            "max",
            "min",
            "next",
            "reversed",
            "set",
            "sorted",
            "sum",
            "tuple",
            "zip",
            "getattr",
            "vars",
        )
    },
    **{n: DATA for n in _EXCEPTIONS},
}
#: functions that call some of their arguments -> (positions, keywords) of those callables
HIGHER_ORDER: dict[str, tuple[tuple[int, ...], tuple[str, ...]]] = {
    "map": ((0,), ()),
    "filter": ((0,), ()),
    "sorted": ((), ("key",)),
    "min": ((), ("key",)),
    "max": ((), ("key",)),
    "functools.reduce": ((0,), ()),
    "functools.partial": ((0,), ()),
    "itertools.starmap": ((0,), ()),
    "itertools.takewhile": ((0,), ()),
    "itertools.dropwhile": ((0,), ()),
    "itertools.filterfalse": ((0,), ()),
    "itertools.groupby": ((1,), ("key",)),
    "itertools.accumulate": ((1,), ("func",)),
    "collections.defaultdict": ((0,), ("default_factory",)),
    "sort": ((), ("key",)),  # list.sort
    # json calls its hooks and encoder class (a project default= could do anything)
    "json.dumps": ((), ("cls", "default")),
    "json.loads": ((), ("cls", "object_hook", "object_pairs_hook", "parse_float", "parse_int", "parse_constant")),
}

PURE_FUNCTIONS: dict[str, str] = {
    # json (not dump/load: they call a file object's read/write)
    "json.dumps": DATA,
    "json.loads": DATA,
    "json.JSONDecodeError": DATA,
    # re
    **{
        f"re.{n}": DATA
        for n in ("match", "search", "fullmatch", "findall", "finditer", "sub", "subn", "split", "escape", "error")
    },
    "re.compile": PATTERN,
    "re.IGNORECASE": DATA,
    "re.I": DATA,
    "re.M": DATA,
    "re.MULTILINE": DATA,
    "re.S": DATA,
    "re.DOTALL": DATA,
    "re.X": DATA,
    "re.VERBOSE": DATA,
    "re.A": DATA,
    "re.ASCII": DATA,
    # datetime: construction, arithmetic, clock reads (no zone database: zoneinfo reads files)
    **{
        f"datetime.{n}": DATA
        for n in (
            "datetime",
            "date",
            "time",
            "timedelta",
            "timezone",
            "timezone.utc",
            "datetime.now",
            "datetime.utcnow",
            "datetime.today",
            "datetime.combine",
            "datetime.fromisoformat",
            "datetime.fromtimestamp",
            "datetime.utcfromtimestamp",
            "datetime.strptime",
            "datetime.min",
            "datetime.max",
            "date.today",
            "date.fromisoformat",
            "date.fromtimestamp",
            "date.fromordinal",
            "date.min",
            "date.max",
            "time.fromisoformat",
            "timedelta.max",
            "timedelta.min",
            "MINYEAR",
            "MAXYEAR",
            "UTC",
        )
    },
    # time: clock reads only (time.sleep is an async replacement, below)
    **{
        f"time.{n}": DATA
        for n in (
            "time",
            "time_ns",
            "monotonic",
            "monotonic_ns",
            "perf_counter",
            "perf_counter_ns",
            "gmtime",
            "localtime",
            "mktime",
            "strftime",
            "strptime",
            "process_time",
        )
    },
    "calendar.timegm": DATA,
    "calendar.monthrange": DATA,
    "calendar.isleap": DATA,
    "calendar.weekday": DATA,
    # numbers
    "decimal.Decimal": DATA,
    "fractions.Fraction": DATA,
    # ids, randomness, hashing, encodings
    "uuid.uuid4": DATA,
    "uuid.uuid5": DATA,
    "uuid.uuid3": DATA,
    "uuid.UUID": DATA,
    "uuid.NAMESPACE_DNS": DATA,
    "uuid.NAMESPACE_URL": DATA,
    **{
        f"random.{n}": DATA
        for n in (
            "random",
            "randint",
            "randrange",
            "choice",
            "choices",
            "shuffle",
            "sample",
            "uniform",
            "gauss",
            "seed",
            "Random",
        )
    },
    **{
        f"secrets.{n}": DATA
        for n in ("token_hex", "token_urlsafe", "token_bytes", "choice", "randbelow", "compare_digest")
    },
    **{
        f"hashlib.{n}": HASH
        for n in (
            "md5",
            "sha1",
            "sha224",
            "sha256",
            "sha384",
            "sha512",
            "blake2b",
            "blake2s",
            "sha3_256",
            "sha3_512",
            "new",
        )
    },
    "hmac.new": HASH,
    "hmac.compare_digest": DATA,
    "hmac.digest": DATA,
    **{
        f"base64.{n}": DATA
        for n in (
            "b64encode",
            "b64decode",
            "urlsafe_b64encode",
            "urlsafe_b64decode",
            "b32encode",
            "b32decode",
            "b16encode",
            "b16decode",
            "standard_b64encode",
            "standard_b64decode",
            "encodebytes",
            "decodebytes",
        )
    },
    "binascii.hexlify": DATA,
    "binascii.unhexlify": DATA,
    "binascii.crc32": DATA,
    "zlib.crc32": DATA,
    "zlib.adler32": DATA,
    # text
    "html.escape": DATA,
    "html.unescape": DATA,
    "unicodedata.normalize": DATA,
    "unicodedata.category": DATA,
    **{f"textwrap.{n}": DATA for n in ("dedent", "indent", "wrap", "fill", "shorten")},
    **{
        f"string.{n}": DATA
        for n in (
            "ascii_letters",
            "ascii_lowercase",
            "ascii_uppercase",
            "digits",
            "hexdigits",
            "punctuation",
            "whitespace",
            "printable",
            "capwords",
            "Template",
        )
    },
    **{
        f"urllib.parse.{n}": DATA
        for n in (
            "urlparse",
            "urlsplit",
            "urlunparse",
            "urlunsplit",
            "urljoin",
            "urlencode",
            "quote",
            "quote_plus",
            "unquote",
            "unquote_plus",
            "parse_qs",
            "parse_qsl",
            "urldefrag",
        )
    },
    # paths as strings (not exists/isfile/getsize...: those ask the file system)
    **{
        f"{m}.{n}": DATA
        for m in ("os.path", "posixpath")
        for n in ("join", "basename", "dirname", "splitext", "split", "normpath", "isabs", "sep")
    },
    "os.environ.get": DATA,
    "os.getenv": DATA,
    "os.environ": DATA,
    "os.sep": DATA,
    "os.linesep": DATA,
    # containers and functional helpers
    **{f"collections.{n}": DATA for n in ("Counter", "defaultdict", "OrderedDict", "deque", "namedtuple", "ChainMap")},
    "functools.reduce": "args",
    "functools.partial": DATA,
    "functools.wraps": DATA,
    "functools.cmp_to_key": DATA,
    "copy.copy": "args",
    "copy.deepcopy": "args",
    "operator.itemgetter": DATA,
    "operator.attrgetter": DATA,
    "operator.add": DATA,
    "operator.mul": DATA,
    "heapq.heappush": DATA,
    "heapq.heappop": DATA,
    "heapq.nlargest": DATA,
    "heapq.nsmallest": DATA,
    "heapq.heapify": DATA,
    "bisect.bisect": DATA,
    "bisect.bisect_left": DATA,
    "bisect.bisect_right": DATA,
    "bisect.insort": DATA,
    "contextlib.suppress": SAFE_CM,
    "typing.cast": "args",
    "dataclasses.asdict": DATA,
    "dataclasses.astuple": DATA,
    "dataclasses.replace": "args",
    "pprint.pformat": DATA,
    "ipaddress.ip_address": DATA,
    "ipaddress.ip_network": DATA,
    "struct.pack": DATA,
    "struct.unpack": DATA,
    "math.inf": DATA,
    # logging: log records go to the configured handlers, as everywhere else in async code
    "logging.getLogger": LOGGER,
    "celery.utils.log.get_task_logger": LOGGER,
    "structlog.get_logger": LOGGER,
    "structlog.getLogger": LOGGER,
    **{
        f"logging.{n}": DATA
        for n in (
            "debug",
            "info",
            "warning",
            "warn",
            "error",
            "exception",
            "critical",
            "log",
            "DEBUG",
            "INFO",
            "WARNING",
            "ERROR",
            "CRITICAL",
        )
    },
    # well-known pure third-party helpers (explicit: third-party calls are blocking unless listed)
    "django.utils.timezone.now": DATA,
    "django.utils.timezone.is_aware": DATA,
    "django.utils.timezone.is_naive": DATA,
    "django.utils.timezone.timedelta": DATA,
    "django.utils.text.slugify": DATA,
    "django.utils.html.escape": DATA,
    # formats datetimes, Decimals, UUIDs (and lazy strings, which task arguments never are: SAQ delivers JSON)
    "django.core.serializers.json.DjangoJSONEncoder": DATA,
    # Django query expressions: building one is pure (the query resolves it later, in the ORM's thread)
    **{name: DATA for name in EXPRESSIONS},
}
#: whole modules of pure functions
PURE_PREFIXES = ("math.", "cmath.", "statistics.", "itertools.", "operator.", "string.")

#: blocking calls with a faithful async counterpart the porter writes (in the task body only)
ASYNC_REPLACEMENTS = {"time.sleep": "asyncio.sleep"}

_STR = {
    "capitalize",
    "casefold",
    "center",
    "count",
    "encode",
    "endswith",
    "expandtabs",
    "find",
    "format",
    "format_map",
    "index",
    "isalnum",
    "isalpha",
    "isascii",
    "isdecimal",
    "isdigit",
    "isidentifier",
    "islower",
    "isnumeric",
    "isprintable",
    "isspace",
    "istitle",
    "isupper",
    "join",
    "ljust",
    "lower",
    "lstrip",
    "maketrans",
    "partition",
    "removeprefix",
    "removesuffix",
    "replace",
    "rfind",
    "rindex",
    "rjust",
    "rpartition",
    "rsplit",
    "rstrip",
    "split",
    "splitlines",
    "startswith",
    "strip",
    "swapcase",
    "title",
    "translate",
    "upper",
    "zfill",
    "decode",
    "hex",
    "fromhex",
}
_LIST = {"append", "clear", "copy", "count", "extend", "index", "insert", "pop", "remove", "reverse", "sort"}
_DICT = {
    "clear",
    "copy",
    "fromkeys",
    "get",
    "items",
    "keys",
    "pop",
    "popitem",
    "setdefault",
    "update",
    "values",
    "most_common",
    "elements",
    "subtract",
    "total",
    "appendleft",
    "popleft",
    "extendleft",
    "rotate",
    "move_to_end",
    "_asdict",
    "_replace",
}
_SET = {
    "add",
    "difference",
    "difference_update",
    "discard",
    "intersection",
    "intersection_update",
    "isdisjoint",
    "issubset",
    "issuperset",
    "symmetric_difference",
    "symmetric_difference_update",
    "union",
}
_NUM = {
    "as_integer_ratio",
    "bit_length",
    "bit_count",
    "conjugate",
    "is_integer",
    "to_bytes",
    "from_bytes",
    "quantize",
    "normalize",
    "to_integral_value",
    "is_nan",
    "is_zero",
    "sqrt",
    "exp",
    "ln",
    "log10",
    "adjusted",
}
_DATETIME = {
    "astimezone",
    "ctime",
    "date",
    "dst",
    "isocalendar",
    "isoformat",
    "isoweekday",
    "replace",
    "strftime",
    "time",
    "timestamp",
    "timetuple",
    "timetz",
    "toordinal",
    "tzname",
    "utcoffset",
    "utctimetuple",
    "weekday",
    "total_seconds",
    "now",
    "today",
    "fromisoformat",
    "fromtimestamp",
    "combine",
    "strptime",
}

METHODS: dict[str, set[str]] = {
    DATA: _STR | _LIST | _DICT | _SET | _NUM | _DATETIME | {"substitute", "safe_substitute"},
    LOGGER: {
        "debug",
        "info",
        "warning",
        "warn",
        "error",
        "exception",
        "critical",
        "log",
        "isEnabledFor",
        "getChild",
        "bind",
        "msg",
    },
    PATTERN: {"match", "search", "fullmatch", "findall", "finditer", "sub", "subn", "split"},
    MATCH: {"group", "groups", "groupdict", "start", "end", "span", "expand"},
    HASH: {"update", "digest", "hexdigest", "copy"},
}
#: what those methods return (default: data)
METHOD_RESULT = {
    (PATTERN, "match"): MATCH,
    (PATTERN, "search"): MATCH,
    (PATTERN, "fullmatch"): MATCH,
    (LOGGER, "getChild"): LOGGER,
    (LOGGER, "bind"): LOGGER,
    (HASH, "copy"): HASH,
}


# --- the one table of known blocking calls -----------------------------------------------------------
#: (pattern on the resolved dotted name, family for native mode's report, label for the scan or None).
#: Native mode blocks everything it does not prove; the family only names *why* (first match wins).
#: The scan (``index/extract.py`` BLOCKING, SM104 and ``features.blocking`` in the scan JSON) flags the
#: rows that have a scan label: its labels are part of the saqmigrate.scan/1 contract, so a row gets one
#: only when flagging it is certain (a known blocking call as written, not "anything under django.").
BLOCKING_CALLS: list[tuple[str, str, str | None]] = [
    (r"(^|\.)transaction\.atomic$|^django\.db\.transaction", "database transaction", None),
    (r"(^|\.)send_mail$|(^|\.)send_mass_mail$", "Django mail (SMTP)", "django.core.mail"),
    (
        r"^django\.core\.mail\.|(^|\.)(EmailMessage|EmailMultiAlternatives|mail_admins|mail_managers)$",
        "Django mail (SMTP)",
        None,
    ),
    (r"^django\.core\.management\.call_command$|(^|\.)call_command$", "call_command (runs a management command)", None),
    (
        r"^django\.core\.cache|(^|\.)cache\.(get|set|delete|add|incr|decr|get_many|set_many|clear|touch)",
        "Django cache",
        None,
    ),
    (r"^django\.contrib\.sessions|SessionStore", "Django sessions", None),
    (r"(^|\.)objects\.\w+", "Django ORM", "django ORM"),
    (r"^django\.db\.|(^|\.)(_default_manager|_base_manager)\.", "Django ORM", None),
    (r"^django\.", "Django (not on the allowlist)", None),
    (r"^requests\.\w+", "HTTP client (sync)", "requests"),
    (r"^urllib\.request\.urlopen$", "HTTP client (sync)", "urllib.request.urlopen"),
    (r"^httpx\.(get|post|put|patch|delete|head|request|Client)$", "HTTP client (sync)", "httpx (sync)"),
    (r"^requests\b|^urllib3\b|^urllib\.request|^httpx\b|^http\.client|^pycurl\b", "HTTP client (sync)", None),
    (r"^smtplib\.\w+", "SMTP", "smtplib"),
    (r"^smtplib\b", "SMTP", None),
    (r"^socket\b|^ssl\b|^select\b", "socket", None),
    (r"^subprocess\.\w+", "subprocess", "subprocess"),
    (r"^subprocess\b|^os\.(system|popen|spawn|exec|fork|wait)", "subprocess", None),
    (
        r"^open$|^io\.|^os\.|^shutil\.|^pathlib\.|^tempfile\.|^glob\.|^fcntl\.|^csv\.|^zipfile\.|^tarfile\.|^gzip\.",
        "file / OS I/O",
        None,
    ),
    (r"^time\.sleep$", "time.sleep", "time.sleep"),
    (r"^asyncio\.run$", "runs an event loop (asyncio.run / async_to_sync)", "asyncio.run"),
    (r"(^|\.)async_to_sync$", "runs an event loop (asyncio.run / async_to_sync)", "async_to_sync"),
    (r"^threading\.|^multiprocessing\.|^concurrent\.|^queue\.", "threads / locks", None),
    (
        r"^redis\b|^psycopg|^pymongo\b|^sqlalchemy\b|^boto3?\b|^botocore\b|^google\.cloud|^elasticsearch",
        "database / cloud client",
        None,
    ),
    (r"^celery\b|\.(delay|apply_async|s|si|signature|apply)$", "Celery (dispatch or broker I/O)", None),
    (r"^(input|exec|eval|compile|__import__|breakpoint|open)$", "builtin with I/O or dynamic code", None),
]
#: native mode's report: pattern -> family
FAMILIES: list[tuple[re.Pattern, str]] = [(re.compile(p), label) for p, label, _ in BLOCKING_CALLS]
#: the scan's detector (index/extract.py BLOCKING): pattern -> label, the rows with a scan label, in order
SCAN_BLOCKING: list[tuple[re.Pattern, str]] = [(re.compile(p), scan) for p, _, scan in BLOCKING_CALLS if scan]


def family(ref: str) -> str | None:
    for pattern, label in FAMILIES:
        if pattern.search(ref):
            return label
    return None


def pure_function(ref: str) -> str | None:
    """The kind of value ``ref(...)`` returns when ``ref`` is on the allowlist, else None."""
    if ref in PURE_FUNCTIONS:
        return PURE_FUNCTIONS[ref]
    if ref.startswith(PURE_PREFIXES):
        return "args" if ref.startswith(("itertools.", "operator.")) else DATA
    return None


#: third-party objects (not modules) whose attribute reads are plain data: Django's settings are read from
#: the settings module once configured. Any other third-party object may run code on an attribute read
#: (a property, ``__getattr__``: django-constance's ``config.X`` is a database or cache read).
PURE_ATTRIBUTE_OBJECTS = {"django.conf.settings"}


def _plain_data(ref: str) -> bool:
    """One of PURE_ATTRIBUTE_OBJECTS or a value read from one (``settings.X``, ``settings.X.y``)."""
    return any(ref == obj or ref.startswith(obj + ".") for obj in PURE_ATTRIBUTE_OBJECTS)


@functools.lru_cache(maxsize=4096)
def is_module(dotted: str) -> bool:
    """Is ``dotted`` an importable module of the environment the tool runs in? Found with the import
    system's finders, without importing (or running) anything: a top-level name with ``find_spec``,
    submodules with the path finder on the parent package's search locations. The standard library
    counts as modules and data (its attribute reads do no I/O). False when not found: not installed
    here, or an object inside a module."""
    parts = dotted.split(".")
    if parts[0] in sys.stdlib_module_names:
        return True
    try:
        spec = importlib.util.find_spec(parts[0])
    except (ImportError, ValueError):
        return False
    for i in range(1, len(parts)):
        locations = spec.submodule_search_locations if spec is not None else None
        if not locations:
            return False
        try:
            spec = importlib.machinery.PathFinder.find_spec(".".join(parts[: i + 1]), list(locations))
        except (ImportError, ValueError):
            return False
    return spec is not None


def attribute_read_problem(ref: str) -> str:
    """Why reading ``ref.<attr>`` may run code, or "": ``ref`` is a module or an allowlisted object."""
    if _plain_data(ref) or is_module(ref):
        return ""
    return (
        f"{ref} is a third-party object (or not installed here): reading an attribute of it may run code "
        "(a property, __getattr__)"
    )


def value_problem(ref: str) -> str:
    """Why using the third-party name ``ref`` as a value (an argument, an operand, subscripted, iterated,
    formatted) may run code, or "": a module, the standard library, an allowlisted function or a plain-data
    object are fine; any other third-party object may define operators, ``__getitem__``, ``__str__`` ..."""
    if _plain_data(ref) or pure_function(ref) is not None or is_module(ref):
        return ""
    return (
        f"{ref} is a third-party object (or not installed here): using it as a value may run its code "
        "(operators, __getitem__, __str__)"
    )


#: allowlisted functions whose cost grows with an argument's *value*, not the input's size: a computed
#: argument may stall the loop for seconds (``pow(3, 10**8)``, ``math.factorial(10**6)``, ``permutations``),
#: or never end (a loop over ``itertools.count()``); ``math.prod`` of many ints is a running product (it grows in bits)
VALUE_COST = {
    "math.prod",
    "pow",
    "math.factorial",
    "math.comb",
    "math.perm",
    "itertools.permutations",
    "itertools.combinations",
    "itertools.combinations_with_replacement",
    "itertools.product",
    "itertools.count",
    "itertools.cycle",
    "itertools.repeat",
    "secrets.token_bytes",
    "secrets.token_hex",
    "secrets.token_urlsafe",
    "os.urandom",
    "random.randbytes",
    "random.getrandbits",
    "decimal.Decimal",
    "fractions.Fraction",
    "bytes",
    "bytearray",
    "operator.mul",
    "operator.imul",
    "operator.lshift",
    "operator.pow",
    "random.choices",
    "statistics.quantiles",
    "ipaddress.ip_network",
    "ipaddress.IPv4Network",
    "ipaddress.IPv6Network",
    "textwrap.indent",
    "textwrap.wrap",
    "textwrap.fill",
    "textwrap.shorten",
    "textwrap.dedent",
}
#: str/bytes/int methods whose result size is an argument's value (a width, a tab size, a byte count, a count)
VALUE_COST_METHODS = {"ljust", "rjust", "center", "zfill", "expandtabs", "to_bytes", "elements"}
