"""A worker's reports travel to the xdist controller with their bulk packed as JSON
(``pytest_deploycheck/wire.py``); the controller rebuilds the very same report."""

from __future__ import annotations

from collections.abc import Generator
from types import SimpleNamespace
from typing import Any

import pytest

from pytest_deploycheck import wire

WORKER = SimpleNamespace(workerinput={"workerid": "gw0"})
CONTROLLER = SimpleNamespace()


def through(hook: Any, value: Any, **kwargs: Any) -> Any:
    """Run a wrapper hook implementation around an inner result ``value``."""
    gen: Generator[None, Any, Any] = hook(**kwargs)
    next(gen)
    try:
        gen.send(value)
    except StopIteration as stop:
        return stop.value
    raise AssertionError("the wrapper did not return")


def report_data() -> dict[str, Any]:
    return {
        "$report_type": "TestReport", "nodeid": "checks/test_tls.py::test_chain[web]", "when": "teardown",
        "outcome": "passed", "location": ("checks/test_tls.py", 10, "test_chain[web]"), "longrepr": None,
        "keywords": {"test_chain[web]": 1, "check": 1, "high": 1},
        "user_properties": [("check_id", "tls-01"), ("target", "web"), ("outcome", "passed")],
        "deploycheck": {"phase": "teardown", "outcome": "passed", "target": "web", "target_kind": "tls",
                        "message": "", "evidence": {"chain": ["CN=web", "CN=ca"], "days": 80.5},
                        "attestation": None, "waiver": None, "check": {"id": "tls-01"}},
    }


def test_a_workers_report_is_packed_and_the_controller_rebuilds_it() -> None:
    original = report_data()
    sent = through(wire.pytest_report_to_serializable, report_data(), config=WORKER, report=None)
    assert set(sent) & {"keywords", "user_properties", "deploycheck"} == set()
    assert isinstance(sent[wire.PACKED], str)
    received = dict(sent)
    through(wire.pytest_report_from_serializable, "rebuilt", config=CONTROLLER, data=received)
    assert received == original
    assert all(isinstance(pair, tuple) for pair in received["user_properties"])


def test_what_json_cannot_hold_travels_the_usual_way() -> None:
    odd = report_data()
    odd["user_properties"] = [("count", 3)]  # not a pair of strings: sent as it is
    sent = through(wire.pytest_report_to_serializable, dict(odd), config=WORKER, report=None)
    assert sent["user_properties"] == [("count", 3)] and "deploycheck" not in sent
    unjsonable = report_data()
    unjsonable["deploycheck"]["evidence"] = {"when": object()}
    sent = through(wire.pytest_report_to_serializable, dict(unjsonable), config=WORKER, report=None)
    assert wire.PACKED not in sent and sent["deploycheck"] is unjsonable["deploycheck"]


@pytest.mark.parametrize("config", [CONTROLLER, WORKER])
def test_only_a_workers_test_reports_are_packed(config: Any) -> None:
    collect = {**report_data(), "$report_type": "CollectReport"}
    assert through(wire.pytest_report_to_serializable, dict(collect), config=config, report=None) == collect
    if config is CONTROLLER:  # serial runs and the controller's own report writers see plain reports
        assert through(wire.pytest_report_to_serializable, report_data(), config=config, report=None) == report_data()
