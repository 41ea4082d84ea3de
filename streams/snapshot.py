"""The engine's state as versioned bytes that run no code when read (no pickle).

A snapshot is a MessagePack document: a header (format name and version, the code version that
wrote it, a fingerprint of the policy) and the state as a tree of plain values. Objects are
written as their class's name and field values; reading builds them with ``cls.__new__`` and
sets the fields, for classes of the engine's own state modules only (:data:`STATE_MODULES`).
So a record someone wrote into the state topic can at worst be refused: it cannot name a
function to call, as a pickle can.

The tree keeps object identity (an order referenced from its bucket, its waybill and its week
is one object after reading, as before writing) and dict order, so a restored engine continues
exactly as the one that wrote the snapshot.

Node layout (every container is a list whose first element is a tag; scalars are themselves):

=============  =========================================  =====================================
tag            written as                                 read as
=============  =========================================  =====================================
``REF``        ``[0, index]``                             the ``index``-th shared node seen
``LIST``       ``[1, [items]]``                           list (shared)
``TUPLE``      ``[2, [items]]``                           tuple
``SET``        ``[3, [items]]``                           set (shared)
``FROZENSET``  ``[4, [items]]``                           frozenset
``DICT``       ``[5, [k0, v0, k1, v1, ...]]``             dict, in order (shared)
``DEQUE``      ``[6, [items]]``                           collections.deque (shared)
``OBJECT``     ``[7, class_index, [field values]]``       an allowed class, fields by name
``STRUCT``     ``[8, class_index, [field values]]``       a msgspec Struct of ``schemas``
``FRACTION``   ``[9, numerator, denominator]``            fractions.Fraction
``CALENDAR``   ``[10, tz_name]``                          streams.calendar.Calendar
=============  =========================================  =====================================

The header's ``classes`` table names each class once with its field names; reading refuses a
class that is not allowed or whose fields differ from the running code's. A class that changed
how it holds a field may define ``upgrade_snapshot()``: called on each object read, once its
fields are set, it turns what an older version wrote into what this one holds
(``OrderBook.ever_paid``: a ``set``, now a ``CompactIdSet``).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib
import inspect
from collections import deque
from collections.abc import Iterable
from fractions import Fraction
from itertools import chain
from sys import intern
from typing import Any

import msgspec
import orjson

from sellerwatch.streams.calendar import Calendar
from sellerwatch.streams.policy import Policy

FORMAT = "sellerwatch-engine-state"
VERSION = 1

#: The installed package the modules below live in. A snapshot names a class by its module
#: within it (``streams.orders:Order``), so the format does not change with the packaging.
PACKAGE = "sellerwatch"
#: Modules whose classes may appear in a snapshot (the engine's state and its records) or in
#: a message between a partitioned engine's coordinator and its partitions.
STATE_MODULES = (
    "schemas.events",
    "schemas.evidence",
    "schemas.verdict",
    "schemas.warning",
    "streams.accounting",
    "streams.campaigns",
    "streams.clock",
    "streams.directory",
    "streams.engine",
    "streams.id_set",
    "streams.ids",
    "streams.orders",
    "streams.policy",
    "streams.programs",
    "streams.rules.campaign_fulfilment",
    "streams.rules.pickup48",
    "streams.rules.quality_refund",
    "streams.rules.same_day_ship",
    "streams.rules.ship48_pickup24",
    "streams.state",
)

REF, LIST, TUPLE, SET, FROZENSET, DICT, DEQUE, OBJECT, STRUCT, FRACTION, CALENDAR = range(11)

#: The values written as themselves (exact types: a subclass takes the general branch).
_NUMBERS = frozenset({type(None), bool, int, float, bytes})
_TEXT = frozenset({str})
_PLAIN = _NUMBERS | _TEXT


def _all_plain(values: Iterable[Any]) -> bool:
    """Whether every value is written as itself: a list or dict of them is written by C
    loops (the id lists and maps of the id memory and of a recall are most of the nodes)."""
    return set(map(type, values)) <= _PLAIN


def _leaves(nodes: list[Any]) -> Iterable[Any] | None:
    """The values of ``nodes`` when none is a branch and their strings can be read in one C
    loop (all strings, or none); ``None``: read them one by one."""
    kinds = set(map(type, nodes))
    if kinds <= _NUMBERS:
        return nodes
    if kinds == _TEXT:
        return map(intern, nodes)
    return None


class SnapshotError(ValueError):
    """A snapshot that cannot be restored by this code (another format, a damaged record)."""


class PolicyMismatch(SnapshotError):
    """The snapshot was written under another policy than the one in force."""


def code_version() -> str:
    """The installed sellerwatch version (written into every snapshot)."""
    try:
        from importlib.metadata import version

        return version("sellerwatch")
    except Exception:  # noqa: BLE001 - not installed (a source checkout): still snapshot
        return "unknown"


def policy_fingerprint(policy: Policy) -> str:
    """A stable hash of every setting of ``policy`` (sets sorted, fractions exact)."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, frozenset | set):
            return sorted(plain(v) for v in value)
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        if isinstance(value, Fraction):
            return f"{value.numerator}/{value.denominator}"
        return value

    canonical = orjson.dumps(plain(policy), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()[:16]


@functools.cache
def _allowed_classes() -> dict[str, type]:
    """The classes a snapshot may name (read once: a partition's every answer is read with
    a reader of its own, and walking the modules cost more than reading a small answer)."""
    allowed: dict[str, type] = {}
    for name in STATE_MODULES:
        module = importlib.import_module(f"{PACKAGE}.{name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__:
                allowed[f"{name}:{cls.__qualname__}"] = cls
    return allowed


def _slots(cls: type) -> tuple[str, ...]:
    names: list[str] = []
    for klass in reversed(cls.__mro__):
        for slot in getattr(klass, "__slots__", ()):
            if slot not in ("__dict__", "__weakref__") and slot not in names:
                names.append(slot)
    return tuple(names)


class _Writer:
    """Turns an object graph into a tree of plain values, sharing repeated nodes."""

    def __init__(self) -> None:
        self.memo: dict[int, int] = {}
        self.keep: list[Any] = []  # keeps memoised objects alive so their ids stay unique
        self.classes: dict[tuple[str, tuple[str, ...]], int] = {}
        self.table: list[list[Any]] = []

    def _share(self, value: Any) -> None:
        self.memo[id(value)] = len(self.memo)
        self.keep.append(value)

    def _class(self, cls: type, fields: tuple[str, ...]) -> int:
        module = cls.__module__.removeprefix(f"{PACKAGE}.")
        key = (f"{module}:{cls.__qualname__}", fields)
        index = self.classes.get(key)
        if index is None:
            if module not in STATE_MODULES:
                raise SnapshotError(f"{key[0]} is not part of the engine's state")
            index = self.classes[key] = len(self.table)
            self.table.append([key[0], list(fields)])
        return index

    def write(self, value: Any) -> Any:
        """The tree of ``value`` (one branch per node kind)."""
        if value is None or isinstance(value, bool | int | float | str | bytes):
            return value
        shared = self.memo.get(id(value))
        if shared is not None:
            return [REF, shared]
        kind = type(value)
        if kind is list:
            self._share(value)
            if _all_plain(value):
                return [LIST, list(value)]
            return [LIST, [self.write(v) for v in value]]
        if kind is dict:
            self._share(value)
            if _all_plain(value) and _all_plain(value.values()):
                return [DICT, list(chain.from_iterable(value.items()))]
            items: list[Any] = []
            for key, item in value.items():
                items.append(self.write(key))
                items.append(self.write(item))
            return [DICT, items]
        if kind is tuple:
            return [TUPLE, [self.write(v) for v in value]]
        if kind is set:
            self._share(value)
            return [SET, [self.write(v) for v in value]]
        if kind is frozenset:
            return [FROZENSET, [self.write(v) for v in value]]
        if kind is deque:
            self._share(value)
            return [DEQUE, [self.write(v) for v in value]]
        if kind is Fraction:
            return [FRACTION, value.numerator, value.denominator]
        if kind is Calendar:
            return [CALENDAR, value.tz_name]
        if isinstance(value, msgspec.Struct):
            fields = value.__struct_fields__
            index = self._class(kind, fields)
            return [STRUCT, index, [self.write(getattr(value, f)) for f in fields]]
        fields = _slots(kind) if not hasattr(value, "__dict__") else tuple(vars(value))
        index = self._class(kind, fields)
        self._share(value)
        return [OBJECT, index, [self.write(getattr(value, f)) for f in fields]]


class _Reader:
    """Builds the object graph back from the tree, allowing only the state's classes."""

    def __init__(self, table: list[list[Any]]) -> None:
        allowed = _allowed_classes()
        self.shared: list[Any] = []
        self.calendars: dict[str, Calendar] = {}
        self.classes: list[tuple[Any, list[str], Any]] = []
        for entry in table:
            if not (isinstance(entry, list) and len(entry) == 2):
                raise SnapshotError("damaged class table")
            name, fields = entry
            cls = allowed.get(name) if isinstance(name, str) else None
            if cls is None:
                raise SnapshotError(f"class {name!r} is not part of the engine's state")
            known = (
                set(cls.__struct_fields__)
                if issubclass(cls, msgspec.Struct)
                else set(_slots(cls)) or None
            )
            if known is not None and set(fields) != known:
                raise SnapshotError(
                    f"{name} has fields {sorted(known)} in this code, {sorted(fields)} in the "
                    "snapshot (written by another version)"
                )
            self.classes.append((cls, fields, getattr(cls, "upgrade_snapshot", None)))

    def read(self, node: Any) -> Any:
        """The value of ``node`` (one branch per node kind)."""
        if not isinstance(node, list):
            return intern(node) if type(node) is str else node
        tag = node[0]
        if tag == REF:
            return self.shared[node[1]]
        if tag == LIST:
            out: list[Any] = []
            self.shared.append(out)
            leaves = _leaves(node[1])
            out.extend(leaves if leaves is not None else (self.read(v) for v in node[1]))
            return out
        if tag == DICT:
            table: dict[Any, Any] = {}
            self.shared.append(table)
            items = node[1]
            keys, values = _leaves(items[0::2]), _leaves(items[1::2])
            if keys is not None and values is not None:
                table.update(zip(keys, values, strict=True))
                return table
            for i in range(0, len(items), 2):
                key = self.read(items[i])
                table[key] = self.read(items[i + 1])
            return table
        if tag == TUPLE:
            return tuple(self.read(v) for v in node[1])
        if tag == SET:
            members: set[Any] = set()
            self.shared.append(members)
            members.update(self.read(v) for v in node[1])
            return members
        if tag == FROZENSET:
            return frozenset(self.read(v) for v in node[1])
        if tag == DEQUE:
            queue: deque[Any] = deque()
            self.shared.append(queue)
            queue.extend(self.read(v) for v in node[1])
            return queue
        if tag == FRACTION:
            return Fraction(node[1], node[2])
        if tag == CALENDAR:
            tz = node[1]
            if tz not in self.calendars:
                self.calendars[tz] = Calendar(tz)
            return self.calendars[tz]
        if tag == STRUCT:
            cls, fields, _ = self.classes[node[1]]
            return cls(**{f: self.read(v) for f, v in zip(fields, node[2], strict=True)})
        if tag == OBJECT:
            cls, fields, upgrade = self.classes[node[1]]
            obj = cls.__new__(cls)
            self.shared.append(obj)
            for name, value in zip(fields, node[2], strict=True):
                object.__setattr__(obj, name, self.read(value))
            if upgrade is not None:
                upgrade(obj)
            return obj
        raise SnapshotError(f"unknown node tag {tag!r}")


def dumps(state: Any, policy: Policy) -> bytes:
    """``state`` (the engine's fields) as snapshot bytes, stamped with ``policy``'s fingerprint."""
    writer = _Writer()
    tree = writer.write(state)
    header = {
        "format": FORMAT,
        "version": VERSION,
        "code": code_version(),
        "policy": policy_fingerprint(policy),
        "policy_name": policy.name,
        "classes": writer.table,
    }
    return msgspec.msgpack.encode([header, tree])


def dumps_message(value: Any) -> bytes:
    """A value of the core — an event routed to a partition, a partition's partial figures or
    verdicts — as bytes for the exchange between a partitioned engine's coordinator and its
    partitions: a snapshot's tree and class table, without the header (no policy, no code
    version: both ends run one engine)."""
    writer = _Writer()
    tree = writer.write(value)
    return msgspec.msgpack.encode([writer.table, tree])


def loads_message(blob: bytes) -> Any:
    """The value :func:`dumps_message` wrote; as safe to read as a snapshot (no code runs)."""
    try:
        table, tree = msgspec.msgpack.decode(blob)
        return _Reader(table).read(tree)
    except SnapshotError:
        raise
    except (msgspec.DecodeError, LookupError, TypeError, ValueError, AttributeError) as exc:
        raise SnapshotError(f"damaged message ({type(exc).__name__}: {exc})") from None
    except RecursionError:
        raise SnapshotError("damaged message (nested too deep)") from None


def header(blob: bytes) -> dict[str, Any]:
    """The header of a snapshot (format, version, code, policy), checked for this code."""
    try:
        document = msgspec.msgpack.decode(blob)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise SnapshotError(f"not a sellerwatch snapshot ({exc})") from None
    if not (isinstance(document, list) and len(document) == 2 and isinstance(document[0], dict)):
        raise SnapshotError("not a sellerwatch snapshot (no header)")
    head: dict[str, Any] = document[0]
    if head.get("format") != FORMAT:
        raise SnapshotError(f"not a sellerwatch snapshot (format {head.get('format')!r})")
    if head.get("version") != VERSION:
        raise SnapshotError(
            f"snapshot format version {head.get('version')!r}; this code reads {VERSION}"
        )
    head["_tree"] = document[1]
    return head


def loads(blob: bytes, policy: Policy | None = None) -> Any:
    """The state written by :func:`dumps`; refuses another format or, given ``policy``,
    a snapshot written under a different policy."""
    head = header(blob)
    if policy is not None and head.get("policy") != policy_fingerprint(policy):
        raise PolicyMismatch(
            f"the snapshot was written under policy {head.get('policy_name')!r} "
            f"({head.get('policy')}), not the policy in force {policy.name!r} "
            f"({policy_fingerprint(policy)})"
        )
    try:
        return _Reader(head["classes"]).read(head["_tree"])
    except SnapshotError:
        raise
    except (IndexError, KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
        raise SnapshotError(f"damaged snapshot ({type(exc).__name__}: {exc})") from None
