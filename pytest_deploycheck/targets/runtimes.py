"""Language runtimes of container base images and the end of their upstream support.

``runtime_of("node:18-alpine")`` is ``("Node.js", "18")``: the runtime an official image (or an
image named after it in another registry) ships, and its release series as the tag says it.  The
tables give the date each series stops getting security fixes upstream, as published on
``RUNTIMES_AS_OF`` (the Node.js release schedule, Python's PEP release calendars, ruby-lang.org,
php.net "Supported Versions", Go's policy of supporting the two newest releases).  A series newer
than a table counts as supported (``lifecycle.support_left``).
"""

from __future__ import annotations

import datetime as dt
import re

from pytest_deploycheck.targets.container_common import ImageRef

RUNTIMES_AS_OF = dt.date(2026, 11, 22)

NODE_EOL: dict[str, dt.date] = {
    "12": dt.date(2022, 4, 30), "14": dt.date(2023, 4, 30), "15": dt.date(2021, 6, 1), "16": dt.date(2023, 9, 11),
    "17": dt.date(2022, 6, 1), "18": dt.date(2025, 4, 30), "19": dt.date(2023, 6, 1), "20": dt.date(2026, 4, 30),
    "21": dt.date(2024, 6, 1), "22": dt.date(2027, 4, 30), "23": dt.date(2025, 6, 1), "24": dt.date(2028, 4, 30),
    "25": dt.date(2026, 6, 1),
}
PYTHON_EOL: dict[str, dt.date] = {
    "3.6": dt.date(2021, 12, 23), "3.7": dt.date(2023, 6, 27), "3.8": dt.date(2024, 10, 7), "3.9": dt.date(2025, 10, 31),
    "3.10": dt.date(2026, 10, 31), "3.11": dt.date(2027, 10, 31), "3.12": dt.date(2028, 10, 31), "3.13": dt.date(2029, 10, 31),
    "3.14": dt.date(2030, 10, 31),
}
RUBY_EOL: dict[str, dt.date] = {
    "2.7": dt.date(2023, 3, 31), "3.0": dt.date(2024, 4, 23), "3.1": dt.date(2025, 3, 26), "3.2": dt.date(2026, 3, 31),
    "3.3": dt.date(2027, 3, 31), "3.4": dt.date(2028, 3, 31),
}
PHP_EOL: dict[str, dt.date] = {
    "7.4": dt.date(2022, 11, 28), "8.0": dt.date(2023, 11, 26), "8.1": dt.date(2025, 12, 31), "8.2": dt.date(2026, 12, 31),
    "8.3": dt.date(2027, 12, 31), "8.4": dt.date(2028, 12, 31),
}
#: Go supports the two newest releases: a release's support ends when the second one after it is out
#: (a new one each February and August).
GO_EOL: dict[str, dt.date] = {
    "1.20": dt.date(2024, 2, 6), "1.21": dt.date(2024, 8, 13), "1.22": dt.date(2025, 2, 11), "1.23": dt.date(2025, 8, 12),
    "1.24": dt.date(2026, 2, 10), "1.25": dt.date(2026, 8, 11), "1.26": dt.date(2027, 2, 9), "1.27": dt.date(2027, 8, 10),
}

#: image name (last path component) -> (runtime, how a tag starts with its series, its table)
RUNTIMES: dict[str, tuple[str, re.Pattern[str], dict[str, dt.date]]] = {
    "node": ("Node.js", re.compile(r"^(\d+)(?:[.-]|$)"), NODE_EOL),
    "python": ("Python", re.compile(r"^(\d+\.\d+)(?:[.-]|$)"), PYTHON_EOL),
    "ruby": ("Ruby", re.compile(r"^(\d+\.\d+)(?:[.-]|$)"), RUBY_EOL),
    "php": ("PHP", re.compile(r"^(\d+\.\d+)(?:[.-]|$)"), PHP_EOL),
    "golang": ("Go", re.compile(r"^(\d+\.\d+)(?:[.-]|$)"), GO_EOL),
}


def runtime_of(ref: str) -> tuple[str, str | None, dict[str, dt.date]] | None:
    """(runtime, release series or None when the tag names none, its table) for a base image of a
    known runtime; None for any other image."""
    image = ImageRef.parse(ref)
    known = RUNTIMES.get(image.short_name)
    if known is None:
        return None
    product, series, table = known
    found = series.match(image.tag or "")
    return product, found.group(1) if found else None, table
