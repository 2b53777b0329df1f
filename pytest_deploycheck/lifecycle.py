"""Release support against a dated end-of-life table: what the "supported release" checks share."""

from __future__ import annotations

import datetime as dt
import re


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """An ordering key for release series such as ``9.6``, ``10.11`` or ``8.0``."""
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"[._-]", version) if p)


def support_left(product: str, series: str, table: dict[str, dt.date], as_of: dt.date, min_days: float,
                 unlisted: str = "is not a maintained release series") -> tuple[str, bool, str]:
    """(observed, acceptable, end-of-life date or note) for a release ``series`` against ``table``
    (published as of ``as_of``).  A series newer than every one in the table counts as supported;
    an older one missing from it does not (``unlisted`` says why)."""
    if series in table:
        eol = table[series]
        left = (eol - dt.date.today()).days
        if left < 0:
            return f"{product} {series} reached end of life on {eol.isoformat()}", False, eol.isoformat()
        return f"{product} {series} is supported until {eol.isoformat()} ({left} days left)", left >= min_days, eol.isoformat()
    note = f"not in the table dated {as_of.isoformat()}"
    if version_key(series) > version_key(max(table, key=version_key)):
        return f"{product} {series} is newer than the support table", True, note
    return f"{product} {series} {unlisted}", False, note
