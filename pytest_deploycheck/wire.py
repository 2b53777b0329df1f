"""Reports on the wire from an xdist worker to its controller, the bulk of them packed as JSON.

xdist sends each of an item's three reports through execnet, whose serializer is pure Python
and costs per object.  A check's report carries about 90 objects, two thirds of them in three
fields: the go-live data (``report.deploycheck``: outcome, target, evidence, the check's
metadata on the setup report), pytest's ``keywords`` and the ``user_properties``.  On a 500-target
run that is 33,000 reports, serialized by the workers and read back by the controller, on the
same cores that run the checks.

So, in a worker, those fields of a ``TestReport`` travel as one JSON string (``json`` is C code),
and the controller unpacks them before pytest rebuilds the report: every hook and report writer
on the controller sees the same attributes as without this.  Both are plain JSON already (the
JSON report writes them so); ``user_properties`` travels packed only when it holds pairs of
strings (ours do), and is rebuilt as tuples.  Anything JSON cannot hold goes the usual way.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from typing import Any

import pytest

#: The serialized report's key for the packed fields.
PACKED = "deploycheck_packed"
#: Fields packed whatever they hold (both are JSON by construction).
FIELDS = ("deploycheck", "keywords")


@pytest.hookimpl(wrapper=True)
def pytest_report_to_serializable(config: pytest.Config, report: Any) -> Generator[None, Any, Any]:
    data = yield
    if not isinstance(data, dict) or not hasattr(config, "workerinput") or data.get("$report_type") != "TestReport":
        return data
    packed = {name: data[name] for name in FIELDS if name in data}
    properties = data.get("user_properties")
    if properties and all(isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) and isinstance(p[1], str) for p in properties):
        packed["user_properties"] = properties
    try:
        text = json.dumps(packed, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        return data
    for name in packed:
        del data[name]
    data[PACKED] = text
    return data


@pytest.hookimpl(wrapper=True)
def pytest_report_from_serializable(config: pytest.Config, data: Any) -> Generator[None, Any, Any]:
    text = data.pop(PACKED, None) if isinstance(data, dict) else None
    if isinstance(text, str):
        packed = json.loads(text)
        if "user_properties" in packed:
            packed["user_properties"] = [tuple(pair) for pair in packed["user_properties"]]
        data.update(packed)
    return (yield)
