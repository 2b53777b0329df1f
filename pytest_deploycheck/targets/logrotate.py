"""How long logrotate keeps a log: each stanza of its configuration with the directives that
govern it, and the days of history that leaves.

A pure function of the configuration text (``host_facts`` reads the files on the host).  What
logrotate(8) does, in the parts that decide retention:

* a directive outside any stanza applies to the stanzas after it, and a file included from
  ``logrotate.conf`` inherits the ones ``logrotate.conf`` set (``weekly``, ``rotate 4`` on Debian);
* ``rotate N`` keeps N old logs (0 or none: old versions are removed), each one period
  (``hourly``, ``daily``, ``weekly``, ``monthly``, ``yearly``) apart: N periods of history just
  after a rotation, the least there ever is; ``maxage N`` removes any older than N days;
* ``size`` rotates by size alone, ignoring the period, so how many days N logs hold depends on the
  traffic; ``maxsize`` rotates early when a log grows past it, so the days are at most the period's.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field

PERIOD_DAYS = {"hourly": 1 / 24, "daily": 1.0, "weekly": 7.0, "monthly": 30.0, "yearly": 365.0}
_SCRIPTS = ("postrotate", "prerotate", "firstaction", "lastaction", "preremove")


@dataclass(frozen=True)
class Rotation:
    """One stanza: the files it names and the directives in force for them."""

    file: str
    patterns: tuple[str, ...]
    settings: Mapping[str, str] = field(default_factory=dict)  # period or size, rotate, maxage, maxsize

    @property
    def by_size(self) -> bool:
        return "size" in self.settings

    def days(self) -> float | None:
        """Days of history the old logs hold just after a rotation (the least there ever is), or
        None when the stanza rotates by size alone and days depend on the traffic."""
        if self.by_size:
            return None
        period = PERIOD_DAYS[self.settings.get("period", "daily")]  # no period: rotated on each (daily) logrotate run
        kept = period * _int(self.settings.get("rotate", "0"))
        maxage = self.settings.get("maxage")
        return min(kept, float(_int(maxage))) if maxage is not None and _int(maxage) > 0 else kept

    def describe(self) -> str:
        """``daily, rotate 14, maxage 30`` as the stanza has it (inherited directives included)."""
        s = self.settings
        parts = [f"size {s['size']}" if self.by_size else s.get("period", "no period (rotated on each daily logrotate run)")]
        parts += [f"{key} {s[key]}" for key in ("rotate", "maxage", "maxsize") if key in s]
        return ", ".join(parts)


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


def rotations(text: str, name: str, inherited: Mapping[str, str] | None = None) -> tuple[list[Rotation], dict[str, str]]:
    """(each stanza of one configuration file, the file's directives outside any stanza) with
    ``inherited`` (logrotate.conf's) under the file's own."""
    stanzas, outer, _ = parse(text, name, inherited)
    return stanzas, outer


def parse(text: str, name: str, inherited: Mapping[str, str] | None = None) -> tuple[list[Rotation], dict[str, str], list[str]]:
    """``rotations``, and the files and folders the configuration includes (``include /etc/logrotate.d``)."""
    outer: dict[str, str] = dict(inherited or {})
    includes: list[str] = []
    out: list[Rotation] = []
    pending: list[str] = []
    inner: dict[str, str] | None = None
    script = False
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if script:
            script = line != "endscript"
            continue
        if inner is None:
            before, brace, after = line.partition("{")
            words = _split(before)
            if brace:
                pending += [w for w in words if w.startswith("/") or "*" in w]
                inner = dict(outer)
                line = after.strip()
                if not line:
                    continue
            elif words and (words[0].startswith("/") or "*" in words[0]):
                pending += words
                continue
            elif words[:1] == ["include"] and len(words) > 1:
                includes.append(words[1])
                continue
            else:
                _directive(words, outer)
                continue
        close = line.endswith("}")
        words = _split(line.rstrip("}").strip())
        if words and words[0] in _SCRIPTS:
            script = True
        elif words:
            _directive(words, inner)
        if close:
            out.append(Rotation(name, tuple(pending), inner))
            pending, inner = [], None
    return out, outer, includes


def _split(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def _directive(words: list[str], into: dict[str, str]) -> None:
    key = words[0].lower()
    # A period and "size" are one setting in logrotate (how it decides to rotate): the last one wins.
    if key in PERIOD_DAYS:
        into["period"] = key
        into.pop("size", None)
    elif key == "size" and len(words) > 1:
        into["size"] = words[1]
        into.pop("period", None)
    elif key in ("rotate", "maxage", "maxsize") and len(words) > 1:
        into[key] = words[1]
