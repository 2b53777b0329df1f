"""The rule that a dead target costs one timeout, and the pool of handles for a run.

``Reachability`` remembers the first failure to reach each target for the whole run (shared by
xdist workers through a state directory); every later check on that target ends at once as an
*error* citing it.  Every handle operation runs under ``Reachability.guard``, which turns a
client library's connection errors into that memory.  ``TargetPool`` keeps one handle per
(fixture, target) for the run and closes them at the end.

``Reachability.preflight_all`` connects to every target of the run at once, before the first
check (``preflight.py`` calls it): K dead targets cost one timeout, not K in turn.  Under xdist
the controller does it and writes what it found to the state directory; each worker loads it
(``load_preflight``) and connects to nothing again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from pytest_deploycheck.outcomes import NotApplicable, TargetError, TargetUnreachable, note_blocked


class Reachable(Protocol):
    """What the rule needs of a target (``base.Reachable`` has it): which one, and where it listens."""

    @property
    def kind(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def label(self) -> str: ...

    @property
    def timeout(self) -> float: ...

    @property
    def endpoint(self) -> tuple[str, int] | None: ...


#: The start-of-run pre-flight's record in the state directory (``preflight_all``/``load_preflight``).
PREFLIGHT_FILE = "preflight.json"

#: Most connects in flight at once during the start-of-run pre-flight: above this many dead
#: targets, each further batch costs one more timeout.
PREFLIGHT_WORKERS = 128


class Reachability:
    """First connection failure per target, for the run.

    In a serial run the memory is this object; under xdist the controller hands every worker the
    same ``state_dir`` and a failure is also written there, so a target found dead by one worker
    costs the others nothing.
    """

    def __init__(self, state_dir: Path | None = None) -> None:
        self.state_dir = state_dir
        self._failures: dict[str, str] = {}
        self._checked: set[str] = set()
        # Failures found by the start-of-run pre-flight that no check of this process has reported
        # yet: the first check on such a target reports it as its own, as if it had connected.
        self._unreported: set[str] = set()
        self._lock = threading.Lock()
        self.connect_attempts: dict[str, int] = {}
        self._shared: dict[str, dict[str, Any]] = {}
        self._paths: dict[str, Path] = {}  # target key -> its file in state_dir

    def shared(self, name: str) -> dict[str, Any]:
        """A dict that lives as long as the run in this process, for memory a kind keeps across its
        targets (``hosts``: facts per machine, shared by entries that reach the same one)."""
        with self._lock:
            return self._shared.setdefault(name, {})

    def defer_report(self, target: Reachable) -> None:
        """A failure found outside any check (the start-of-run prefetch): the first check on the
        target reports it as its own error, as it would have found it; the others cite it."""
        if self.failure(target) is not None:
            with self._lock:
                self._unreported.add(self._key(target))

    @staticmethod
    def _key(target: Reachable) -> str:
        return f"{target.kind}.{target.name}"

    def _file(self, target: Reachable) -> Path | None:
        if self.state_dir is None:
            return None
        key = self._key(target)
        path = self._paths.get(key)
        if path is None:
            path = self._paths[key] = self.state_dir / (hashlib.sha256(key.encode()).hexdigest()[:24] + ".json")
        return path

    def failure(self, target: Reachable) -> str | None:
        key = self._key(target)
        if key in self._failures:
            return self._failures[key]
        path = self._file(target)
        if path is not None and os.path.exists(path):
            with contextlib.suppress(OSError, ValueError):
                message = str(json.loads(path.read_text())["message"])
                self._failures[key] = message
                return message
        return None

    def mark(self, target: Reachable, message: str) -> None:
        key = self._key(target)
        with self._lock:
            self._failures.setdefault(key, message)
        path = self._file(target)
        if path is not None and not path.exists():
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            with contextlib.suppress(OSError):
                tmp.write_text(json.dumps({"message": message}))
                os.replace(tmp, path)

    def raise_if_failed(self, target: Reachable) -> None:
        message = self.failure(target)
        if message is not None:
            note_blocked(target.name, "unusable", message)  # the reports list it once, under its cause
            raise TargetUnreachable(f"{target.label}: not checked, target unusable since an earlier check: {message}")

    def preflight(self, target: Reachable) -> None:
        """Once per target and process: a TCP connect within the target's timeout (nothing when
        the start-of-run pre-flight already connected)."""
        key = self._key(target)
        with self._lock:
            fresh = key in self._unreported
            self._unreported.discard(key)
        if fresh:
            message = self.failure(target)
            if message is not None:
                raise TargetUnreachable(f"{target.label}: {message}")
        self.raise_if_failed(target)
        if key in self._checked:
            return
        message = self._connect(target)
        if message is not None:
            self.mark(target, message)
            raise TargetUnreachable(f"{target.label}: {message}")

    def _connect(self, target: Reachable) -> str | None:
        """One TCP connect to ``target`` within its timeout: None when it answered, else why not."""
        key = self._key(target)
        address = target.endpoint
        if address is None:
            self._checked.add(key)
            return None
        host, port = address
        with self._lock:
            self.connect_attempts[key] = self.connect_attempts.get(key, 0) + 1
        deadline = time.monotonic() + target.timeout
        try:
            addresses = resolve(host, port, target.timeout)
            last: OSError = OSError("no address")
            for family, kind, proto, _, sockaddr in addresses:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("timed out")
                try:
                    with socket.socket(family, kind, proto) as sock:
                        sock.settimeout(remaining)
                        sock.connect(sockaddr)
                    break
                except OSError as exc:
                    last = exc
            else:
                raise last
        except OSError as exc:
            return f"cannot connect to {host}:{port}: {describe_oserror(exc, target.timeout)}"
        self._checked.add(key)
        return None

    def preflight_all(self, targets: Iterable[Reachable], workers: int = PREFLIGHT_WORKERS) -> dict[str, str]:
        """Connect to every target at once (at most ``workers`` in flight), before any check runs.

        A failure is remembered as by ``preflight``; the first check on that target reports it as
        its own error, the others cite it.  With a state directory the findings are written there
        for the xdist workers (``load_preflight``).  Returns {"kind.name": message} of the dead.
        """
        todo = {self._key(t): t for t in targets if self.failure(t) is None and self._key(t) not in self._checked}
        found: dict[str, str] = {}
        tcp = [t for t in todo.values() if t.endpoint is not None]
        for key, target in todo.items():
            if target.endpoint is None:
                self._checked.add(key)
        if tcp:
            with ThreadPoolExecutor(max_workers=max(1, min(workers, len(tcp))), thread_name_prefix="deploycheck-preflight") as pool:
                for target, message in zip(tcp, pool.map(self._connect, tcp), strict=True):
                    if message is not None:
                        found[self._key(target)] = message
        for key, message in found.items():
            target = todo[key]
            self.mark(target, message)
            with self._lock:
                self._unreported.add(key)
        if self.state_dir is not None:
            record = {"checked": sorted(self._checked), "failures": {k: self._failures[k] for k in sorted(self._failures)}}
            tmp = self.state_dir / f"{PREFLIGHT_FILE}.{os.getpid()}.tmp"
            with contextlib.suppress(OSError):
                tmp.write_text(json.dumps(record))
                os.replace(tmp, self.state_dir / PREFLIGHT_FILE)
        return found

    def load_preflight(self, wait: float) -> bool:
        """An xdist worker: wait up to ``wait`` seconds for the controller's pre-flight record and
        take it over (targets found alive are not connected to again).  False when none came: the
        worker then pre-flights each target on first use, as before."""
        if self.state_dir is None:
            return False
        path = self.state_dir / PREFLIGHT_FILE
        deadline = time.monotonic() + wait
        pause = 0.01
        while not path.exists():
            if time.monotonic() >= deadline:
                return False
            time.sleep(pause)
            pause = min(pause * 2, 0.2)
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            return False
        with self._lock:
            self._checked.update(str(k) for k in record.get("checked", ()))
            for key, message in dict(record.get("failures", {})).items():
                self._failures.setdefault(str(key), str(message))
                self._unreported.add(str(key))
        return True

    @contextlib.contextmanager
    def guard(self, target: Reachable, unreachable: tuple[type[BaseException], ...] = (), unusable: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
        """Turn connection failures into ``TargetUnreachable`` and remember them.

        ``unreachable`` adds a client library's connection/timeout errors to ``OSError``;
        ``unusable`` lists errors (refused authentication) after which no further check should
        try again: repeated failed logins can lock an account or trip fail2ban.
        """
        self.raise_if_failed(target)
        try:
            yield
        except (TargetError, NotApplicable):
            raise
        except unusable as exc:
            message = f"authentication refused: {first_line(exc)}"
            self.mark(target, message)
            raise TargetError(f"{target.label}: {message}") from None
        except (OSError, *unreachable) as exc:  # type: ignore[misc]  # a starred tuple of exception types
            message = describe_oserror(exc, target.timeout) if isinstance(exc, OSError) else first_line(exc)
            self.mark(target, message)
            raise TargetUnreachable(f"{target.label}: {message}") from None


def resolve(host: str, port: int, timeout: float, lookup: Callable[..., list[Any]] = socket.getaddrinfo) -> list[Any]:
    """``getaddrinfo`` within ``timeout``: the system resolver has no timeout of its own, and a
    dead DNS server must cost one target timeout like any other dead peer.  The lookup runs in
    a daemon thread, so one that never returns cannot hold up the end of the run either."""
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["addresses"] = list(lookup(host, port, 0, socket.SOCK_STREAM))
        except OSError as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=work, name=f"deploycheck-dns-{host}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise TimeoutError(f"name lookup of {host} timed out after {timeout:g}s")
    if "error" in outcome:
        exc = outcome["error"]
        raise OSError(f"name lookup of {host} failed: {getattr(exc, 'strerror', None) or exc}")
    return list(outcome["addresses"])


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def ssl_reason(exc: BaseException) -> str:
    """``certificate has expired`` out of requests' ``HTTPSConnectionPool(...): Max retries ... (Caused by SSLError(...))``."""
    text = str(exc)
    for marker in ("certificate verify failed: ", "] "):
        if marker in text:
            return text.split(marker, 1)[1].split(" (_ssl.c", 1)[0].split("')", 1)[0].strip()
    return first_line(exc)


def describe_oserror(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return str(exc) if str(exc).startswith("name lookup") else f"timed out after {timeout:g}s"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return first_line(exc)


# --------------------------------------------------------------------------- handles


class TargetPool:
    """One handle per (fixture, target) for the run, closed at the end."""

    def __init__(self, reach: Reachability) -> None:
        self.reach = reach
        self._handles: dict[tuple[str, str, str], Any] = {}
        self._lock = threading.Lock()

    def handle(self, fixture: str, target: Reachable, factory: Callable[[Reachable, Reachability], Any]) -> Any:
        key = (fixture, target.kind, target.name)
        with self._lock:
            if key not in self._handles:
                self._handles[key] = factory(target, self.reach)
            return self._handles[key]

    def discard(self, fixture: str, target: Reachable) -> None:
        """Forget a handle (closed): the next check gets a fresh one.  The prefetch drops a handle
        whose fact it could not read, so the check that needs it starts from scratch, as serially."""
        with self._lock:
            handle = self._handles.pop((fixture, target.kind, target.name), None)
        if handle is not None:
            with contextlib.suppress(Exception):
                handle.close()

    def close(self) -> None:
        for handle in self._handles.values():
            with contextlib.suppress(Exception):
                handle.close()
        self._handles.clear()
