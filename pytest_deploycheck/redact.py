"""Keep secrets out of everything pytest and the plugin print.

Every value the inventory took from the environment, every value under a secret-like key and
every password inside a URL's userinfo is registered here; ``Redactor.redact`` replaces each
with ``***``.  The plugin runs reports, captured output and log records through it before
anything is written, so terminal, tracebacks, HTML, JUnit and JSON all see the scrubbed text.
"""

from __future__ import annotations

import base64
import bisect
import dataclasses
import json
import logging
import re
import threading
import urllib.parse
from collections.abc import Iterable, Iterator
from typing import Any

import ahocorasick

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

#: Characters ``json.dumps(..., ensure_ascii=False)`` writes escaped.
_JSON_ESCAPED = re.compile(r'["\\\x00-\x1f]')


def _mask_spans(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` with each run of characters covered by the sorted ``spans`` replaced by one MASK."""
    pieces: list[str] = []
    kept = 0
    start, end = spans[0]
    for s, e in spans[1:]:
        if s <= end:
            end = max(end, e)
            continue
        pieces += [text[kept:start], MASK]
        kept, (start, end) = end, (s, e)
    pieces += [text[kept:start], MASK, text[end:]]
    return "".join(pieces)


def _longest_piece(ordered: list[str], pieces: Iterable[str]) -> int:
    """The length of the longest of ``pieces`` that starts some string in ``ordered`` (sorted), or 0."""
    best = 0
    for piece in pieces:
        at = bisect.bisect_left(ordered, piece)
        if at < len(ordered) and ordered[at].startswith(piece):
            best = max(best, len(piece))
    return best


def is_secret_key(key: str) -> bool:
    return bool(SECRET_KEY.search(key)) and not key.endswith(("_file", "_files", "_path", "_paths", "_env"))


class _Literals:
    """Every occurrence of a set of literal strings in a text, in one pass (Aho-Corasick, C).

    A regular expression alternation of the secrets, which this replaces, tries every secret at
    every position and recompiles slowly: with a login token per target that made masking the
    largest cost of a 500-target run."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self._automaton = ahocorasick.Automaton(ahocorasick.STORE_LENGTH)
        for secret in secrets:
            self._automaton.add_word(secret)
        self._automaton.make_automaton()

    def spans(self, text: str) -> Iterator[tuple[int, int]]:
        for end, length in self._automaton.iter(text):
            yield end - length + 1, end + 1

    def found_in(self, text: str) -> bool:
        return next(self._automaton.iter(text), None) is not None


class Redactor:
    """A thread-safe set of secrets and the function that masks them in text."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        # Two automata, so that registering a secret does not rebuild one over every secret so
        # far (a login token per target would make that quadratic): ``_settled`` is rebuilt when
        # about sqrt(2n) secrets have gathered in ``_pending``, which alone is rebuilt per secret.
        # Both are searched on the original text and every character of every occurrence is
        # masked, so secrets inside or overlapping one another are masked whole whichever holds them.
        self._settled: set[str] = set()
        self._pending: set[str] = set()
        self._settled_matcher: _Literals | None = None
        self._pending_matcher: _Literals | None = None
        self._dirty = False
        # For secrets cut by pytest's "..." (``_mask_truncated``): every secret and, to find
        # suffixes, every secret reversed, each sorted.
        self._heads: list[str] = []
        self._tails: list[str] = []
        self._longest = 0
        # Whether some secret holds a character JSON escapes (``"``, ``\\``, a control character):
        # then ``redact_obj`` cannot look for the secrets in a value's JSON text (its fast path).
        self._escapable = False
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
            for value in new:
                bisect.insort(self._heads, value)
                bisect.insort(self._tails, value[::-1])
                self._longest = max(self._longest, len(value))
                self._escapable = self._escapable or _JSON_ESCAPED.search(value) is not None
            self._pending.update(new)
            if len(self._pending) ** 2 > 2 * len(self._secrets):
                self._settled.update(self._pending)
                self._pending.clear()
                self._settled_matcher = None
            self._pending_matcher = None
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

    def _matchers(self) -> tuple[_Literals, ...]:
        with self._lock:
            if self._dirty:
                if self._settled_matcher is None and self._settled:
                    self._settled_matcher = _Literals(self._settled)
                if self._pending_matcher is None and self._pending:
                    self._pending_matcher = _Literals(self._pending)
                self._dirty = False
            return tuple(m for m in (self._settled_matcher, self._pending_matcher) if m is not None)

    def redact(self, text: str) -> str:
        matchers = self._matchers()
        if not matchers or not text:
            return text
        spans = sorted(span for matcher in matchers for span in matcher.spans(text))
        if spans:
            text = _mask_spans(text, spans)
        if "..." in text:
            text = self._mask_truncated(text)
        return text

    def _mask_truncated(self, text: str) -> str:
        """pytest shortens long reprs to ``'redis://:canary-Zq8w...@host'``: a secret cut by the
        ellipsis no longer matches whole, so the longest piece of a secret (at least
        ``MIN_FRAGMENT`` characters) just before an ellipsis (a secret's start) or just after one
        (a secret's end) is masked too."""
        with self._lock:
            heads, tails = self._heads, self._tails
            spans: list[tuple[int, int]] = []
            longest = self._longest
            for found in re.finditer(r"\.\.\.", text):
                i, j = found.start(), found.end()
                # A piece grown by one character may start a secret when the shorter one did
                # not: every length is tried, up to the longest secret.
                before = _longest_piece(heads, (text[i - k:i] for k in range(MIN_FRAGMENT, min(i, longest) + 1)))
                if before:
                    spans.append((i - before, i))
                after = _longest_piece(tails, (text[j:j + k][::-1] for k in range(MIN_FRAGMENT, min(len(text) - j, longest) + 1)))
                if after:
                    spans.append((j, j + after))
        return _mask_spans(text, sorted(spans)) if spans else text

    def redact_obj(self, obj: Any) -> Any:
        """Mask secrets in strings anywhere inside dicts, lists, tuples and dataclasses (in place
        for dataclasses, which is how pytest's traceback representations are built).

        Plain data (what JSON holds) in which no secret occurs, the common case by far, comes
        back as it is after one search of its JSON text: a secret inside any of its strings is
        in that text verbatim, unless the secret holds a character JSON escapes (then, and for
        anything else, every string is searched in turn)."""
        matchers = self._matchers()
        if not matchers:
            return obj
        if not self._escapable and not isinstance(obj, str):
            try:
                text = json.dumps(obj, ensure_ascii=False)
            except (TypeError, ValueError, RecursionError):
                text = None
            if text is not None and "..." not in text and not any(matcher.found_in(text) for matcher in matchers):
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
        return any(matcher.found_in(text) for matcher in self._matchers())


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
