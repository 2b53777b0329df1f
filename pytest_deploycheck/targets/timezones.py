"""Time zone names as hosts and database servers report them, compared with the one an inventory expects.

The time zone database has many names for UTC (``Etc/UTC``, ``Universal``, ``Zulu``, ``GMT``...)
and servers report offsets too (MariaDB's ``+00:00``); a check asking for UTC accepts any of them.
Any other zone is compared by its IANA name.
"""

from __future__ import annotations

#: Names of UTC in the time zone database and in servers' settings ("none": a host without /etc/localtime runs in UTC).
UTC_NAMES = frozenset({"utc", "etc/utc", "universal", "etc/universal", "zulu", "etc/zulu", "gmt", "etc/gmt", "etc/gmt+0", "etc/gmt-0",
                       "etc/gmt0", "gmt0", "uct", "etc/uct", "greenwich", "etc/greenwich", "none", "+00:00", "-00:00", "z"})


def is_utc(name: str) -> bool:
    return name.strip().lower() in UTC_NAMES


def same_zone(found: str, wanted: str, abbr: str = "", offset: str = "") -> bool:
    """Whether the zone ``found`` is ``wanted``: by name, or for UTC by any of its names (or, when
    no name is known, by a UTC abbreviation at offset +0000, as ``date`` prints them)."""
    if is_utc(wanted):
        return is_utc(found) or (not found and abbr.upper() in ("UTC", "GMT") and offset == "+0000")
    return found == wanted
