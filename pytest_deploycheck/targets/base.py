"""What every target kind is made of: the inventory record, the kind's declaration, the handle.

A target kind is one module of this package (``http.py``, ``postgres.py``, ...) that declares a
``KIND = TargetKind(...)``: its inventory section and keys, the fixture checks ask for, the
handle class behind that fixture and how the kind is reached over TCP.  ``targets/__init__.py``
lists the kinds; the inventory schema, the fixtures, the reachability pre-flight and the
README's tables all read that one list.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pytest_deploycheck.targets.reach import Reachability
from pytest_deploycheck.thresholds import THRESHOLDS
from pytest_deploycheck.yamlfile import Field, YamlLoader, YamlNode

T = TypeVar("T")

#: Guards only the creation of a handle's memo and of each key's lock (``TargetHandle.remember``).
_REMEMBER_LOCK = threading.Lock()


class Once:
    """Answers computed once per key and kept (``values``): a caller asking for a key another
    thread is computing waits for that answer, and different keys are computed at the same time.
    An exception is not kept: the next caller computes again."""

    def __init__(self) -> None:
        self.values: dict[Hashable, Any] = {}
        self._locks: dict[Hashable, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self.values:
                self.values[key] = compute()
            return self.values[key]  # type: ignore[no-any-return]

__all__ = ["Field", "Target", "TargetHandle", "TargetKind", "Validator", "strip_userinfo"]


@dataclass(frozen=True)
class Target:
    """One host or service of the inventory, validated.

    ``spec`` holds the kind-specific keys (after interpolation and path resolution);
    ``thresholds`` is the merged view: defaults, then the inventory's, then the target's.
    """

    kind: str
    name: str
    spec: Mapping[str, Any]
    roles: tuple[str, ...]
    tags: tuple[str, ...]
    timeout: float
    thresholds: Mapping[str, float | int]
    active_probes: bool
    source: str  # "inventories/prod.yml:14", for messages
    description: str = ""
    endpoint: tuple[str, int] | None = None  # TCP (host, port) for the reachability pre-flight; None: not a TCP peer

    def get(self, key: str, default: Any = None) -> Any:
        return self.spec.get(key, default)

    def threshold(self, name: str) -> Any:
        """The threshold ``name`` as this target sees it (see thresholds.py for the table)."""
        if name not in THRESHOLDS:
            raise KeyError(f"unknown threshold {name!r}; add it to pytest_deploycheck/thresholds.py")
        return self.thresholds[name]

    @property
    def address(self) -> str:
        """Where the target is, for messages: URL, DSN host, backend, path (no credentials)."""
        raw = str(self.spec.get("url") or self.spec.get("dsn") or self.spec.get("address")
                  or self.spec.get("backend") or self.spec.get("path") or self.spec.get("zone") or "")
        return strip_userinfo(raw)

    @property
    def label(self) -> str:
        """``name (address)``: how every failure message names its target."""
        return f"{self.name} ({self.address})" if self.address else self.name



def strip_userinfo(value: str) -> str:
    """``postgresql://app:pw@db/app`` -> ``postgresql://app@db/app``; libpq's ``password=pw`` is dropped."""
    value = re.sub(r"(://[^/@:\s]*):[^/@\s]*@", r"\1@", value)
    return re.sub(r"(^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)\s*", r"\1", value).strip()


#: Cross-field rules of a kind that a type alone cannot say: ``(loader, spec, raw nodes, keypath)``;
#: report with ``loader.problem(line, keypath, message)``.
Validator = Callable[[YamlLoader, Mapping[str, Any], Mapping[str, YamlNode], str], None]


@dataclass(frozen=True)
class TargetKind:
    """One kind of inventory target, declared by its module as ``KIND``.

    ``name`` is the inventory section (``http:``), ``fixture`` the fixture checks ask for
    (``http_endpoint``), ``handle`` the class that fixture returns, ``fields`` the kind's
    inventory keys (every target also has the common ones: roles, tags, timeout, ...).
    ``address`` gives the TCP (host, port) the reachability pre-flight connects to, or None when
    the target is not a TCP peer.  ``also`` lets the fixture take targets of other kinds too
    (``tls_endpoint`` takes https:// ``http`` targets): kind name -> which of its targets.
    ``host_fixture``: the fixture replaces one of the same name from another plugin (testinfra's
    ``host``) and is registered only when an inventory is given.
    """

    name: str
    fixture: str
    handle: type[TargetHandle]
    fields: Mapping[str, Field]
    summary: str
    address: Callable[[Target], tuple[str, int] | None] = lambda target: None
    validate: Validator | None = None
    also: Mapping[str, Callable[[Target], bool]] = field(default_factory=dict)
    host_fixture: bool = False

    def takes(self, target: Target) -> bool:
        """Whether this kind's fixture is parametrized with ``target``."""
        if target.kind == self.name:
            return True
        accept = self.also.get(target.kind)
        return accept is not None and accept(target)


class TargetHandle:
    """Base of every handle: the inventory record plus the run's reachability memory."""

    def __init__(self, target: Target, reach: Reachability) -> None:
        self.target = target
        self.reach = reach

    @property
    def name(self) -> str:
        return self.target.name

    @property
    def label(self) -> str:
        return self.target.label

    @property
    def timeout(self) -> float:
        return self.target.timeout

    def threshold(self, name: str) -> Any:
        return self.target.threshold(name)

    def setting(self, key: str, default: Any = None) -> Any:
        """An inventory key of this target (``http_endpoint.setting("auth")``)."""
        return self.target.get(key, default)

    def remember(self, key: Hashable, read: Callable[[], T]) -> T:
        """``read()`` once per run for this target: later calls with ``key`` get the same answer,
        and a call made while another thread reads it waits for that answer.  An exception is not
        kept (the next call reads again).  For a fact several checks judge, or one read ahead
        (``ahead.read_ahead``): ``tls_endpoint.probe`` and ``http_endpoint.page`` keep theirs so."""
        with _REMEMBER_LOCK:
            once: Once | None = self.__dict__.get("_remembering")
            if once is None:
                once = self.__dict__["_remembering"] = Once()
                self.__dict__["_remembered"] = once.values  # the answers, by key
        return once.get(key, read)

    def remembered(self, key: Hashable) -> bool:
        """Whether ``remember`` already holds an answer for ``key``."""
        return key in self.__dict__.get("_remembered", {})

    def warm(self) -> None:
        """Read now what nearly every check of this kind waits for first (a login, a certificate
        chain, a database session), keeping it for them; the start of a serial run does this for
        every target at once (``preflight.py``).  A failure is raised as the first check would
        have met it.  Kinds with nothing to read ahead keep this no-op."""

    def close(self) -> None:
        """Release connections; called once at the end of the run."""

    @classmethod
    def reads_beside_checks(cls, target: Target) -> bool:
        """Whether the reads declared with ``@read_ahead`` may run while the target's checks run
        (the handle is safe to use from two threads at once, and a read in progress is waited
        for, not repeated): then a check waits only for ``warm`` and for the reads its own check
        declares, not for every read of its target (``preflight.ReadAhead``).  False: a check
        waits until every read of its target is done, so a handle is never used by two threads."""
        return False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.target.label}>"

    def __str__(self) -> str:
        return self.label  # messages print the label
