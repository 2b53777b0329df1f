"""Keep secrets out of everything pytest and the plugin print.

Every value the inventory took from the environment, every value under a secret-like key and
every password inside a URL's userinfo is registered here; ``Redactor.redact`` replaces each
with ``***``.  The plugin runs reports, captured output and log records through it before
anything is written, so terminal, tracebacks, HTML, JUnit and JSON all see the scrubbed text.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import re
import threading
import urllib.parse
from collections.abc import Iterable
from typing import Any

MASK = "***"

#: Inventory keys whose values are secrets wherever they appear.
SECRET_KEY = re.compile(
    r"(^|_)(password|passwd|pass|pwd|token|secret|secrets|api_?key|private_?key|credentials?|key)($|_)",
    re.IGNORECASE,
)

# Interpolated values shorter than this are treated as configuration (ports, flags) unless
# they sit under a secret-like key: masking every "5432" or "on" would make output unreadable.
MIN_INTERPOLATED_SECRET = 4

# The shortest piece of a truncated secret that is still masked.
MIN_FRAGMENT = 3


def is_secret_key(key: str) -> bool:
    return bool(SECRET_KEY.search(key)) and not key.endswith(("_file", "_files", "_path", "_paths", "_env"))


class Redactor:
    """A thread-safe set of secrets and the function that masks them in text."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        # Two patterns, so that registering a secret does not recompile every secret so far (a
        # login token per target made that quadratic: minutes for 500 targets): ``_pattern``
        # covers ``_settled``; secrets added since are in ``_pending`` and its own small pattern,
        # folded into the big one once there are about sqrt(2n) of them.
        self._settled: set[str] = set()
        self._pending: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._pending_pattern: re.Pattern[str] | None = None
        self._dirty = False
        self._lock = threading.Lock()

    def add(self, secret: str) -> None:
        """Register a secret and the encodings it commonly travels in (URL-quoted, repr-escaped)."""
        if not secret:
            return
        variants = {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret),
                    secret.encode("unicode_escape").decode("ascii")}
        if len(secret) >= 6:
            variants.add(base64.b64encode(secret.encode()).decode())
        with self._lock:
            new = {v for v in variants if v} - self._secrets
            if not new:
                return
            self._secrets.update(new)
            # A secret inside another (or containing one) must be masked longest first, which
            # only one pattern guarantees: then everything is folded into the big one now.
            overlaps = any(a in b or b in a for a in new for b in self._settled)
            self._pending.update(new)
            if overlaps or len(self._pending) ** 2 > 2 * len(self._secrets):
                self._settled.update(self._pending)
                self._pending.clear()
                self._pattern = None
            self._pending_pattern = None
            self._dirty = True

    def add_url_userinfo(self, value: str) -> None:
        """Register the password of every ``scheme://user:password@host`` found in ``value``."""
        for match in re.finditer(r"[a-zA-Z][a-zA-Z0-9+.-]*://([^/@\s]*)@", value):
            _user, sep, password = match.group(1).partition(":")
            if sep and password:
                self.add(urllib.parse.unquote(password))
                self.add(password)

    @property
    def secrets(self) -> frozenset[str]:
        return frozenset(self._secrets)

    @staticmethod
    def _build(secrets: set[str]) -> re.Pattern[str] | None:
        if not secrets:
            return None
        # Longest first, so a secret containing another is masked whole.
        return re.compile("|".join(re.escape(s) for s in sorted(secrets, key=len, reverse=True)))

    def _compiled(self) -> tuple[re.Pattern[str], ...]:
        with self._lock:
            if self._dirty:
                if self._pattern is None:
                    self._pattern = self._build(self._settled)
                if self._pending_pattern is None:
                    self._pending_pattern = self._build(self._pending)
                self._dirty = False
            return tuple(p for p in (self._pattern, self._pending_pattern) if p is not None)

    def redact(self, text: str) -> str:
        patterns = self._compiled()
        if not patterns or not text:
            return text
        for pattern in patterns:
            text = pattern.sub(MASK, text)
        if "..." in text:
            text = self._mask_truncated(text)
        return text

    def _mask_truncated(self, text: str) -> str:
        """pytest shortens long reprs to ``'redis://:canary-Zq8w...@host'``: a secret cut by the
        ellipsis no longer matches whole, so its remaining prefix or suffix is masked too."""
        for secret in self._secrets:
            for k in range(len(secret) - 1, MIN_FRAGMENT - 1, -1):
                head, tail = secret[:k] + "...", "..." + secret[-k:]
                if head in text:
                    text = text.replace(head, MASK + "...")
                if tail in text:
                    text = text.replace(tail, "..." + MASK)
        return text

    def redact_obj(self, obj: Any) -> Any:
        """Mask secrets in strings anywhere inside dicts, lists, tuples and dataclasses (in place
        for dataclasses, which is how pytest's traceback representations are built)."""
        if not self._compiled():
            return obj
        return self._walk(obj, set())

    def _walk(self, obj: Any, seen: set[int]) -> Any:
        if isinstance(obj, str):
            return self.redact(obj)
        if isinstance(obj, (int, float, bool)) or obj is None:
            return obj
        if id(obj) in seen:
            return obj
        seen.add(id(obj))
        if isinstance(obj, dict):
            return {self._walk(k, seen): self._walk(v, seen) for k, v in obj.items()}
        if isinstance(obj, list):
            return [self._walk(v, seen) for v in obj]
        if isinstance(obj, tuple):
            return tuple(self._walk(v, seen) for v in obj)
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            for field in dataclasses.fields(obj):
                value = getattr(obj, field.name)
                new = self._walk(value, seen)
                if new is not value:
                    object.__setattr__(obj, field.name, new)
            return obj
        return obj

    def contains_secret(self, text: str) -> bool:
        return any(pattern.search(text) for pattern in self._compiled())


class RedactingFilter(logging.Filter):
    """A handler filter: the record's final message is masked before any handler formats it."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string is the caller's bug; keep the raw msg
            message = str(record.msg)
        masked = self.redactor.redact(message)
        if masked != message or record.args:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[1] is not None:
            # Format now, masked, so handlers print the scrubbed traceback text.
            formatter = logging.Formatter()
            record.exc_text = self.redactor.redact(formatter.formatException(record.exc_info))
            record.exc_info = None
        return True


def install_log_filter(redactor: Redactor, handlers: Iterable[logging.Handler]) -> RedactingFilter:
    flt = RedactingFilter(redactor)
    for handler in handlers:
        handler.addFilter(flt)
    return flt
