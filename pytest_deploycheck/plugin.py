"""pytest-deploycheck's entry module: options, configuration, and the rest registered from here.

The plugin's parts, one module each, and nothing imports this one back:
``options`` (command line and ini), ``state`` (run state and stash keys), ``inventory`` and
``targets/`` (one module per target kind), ``collection`` (checks parametrized over targets),
``fixtures``, ``results`` (outcomes on each report), ``governance/`` (attestations, waivers),
``reports/`` (terminal summary, HTML, JUnit, JSON, Markdown), ``hookspecs``.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import tempfile
import threading
from pathlib import Path
from typing import Any

import pytest

from pytest_deploycheck import (
    catalog,
    collection,
    distribution,
    fixtures,
    heap,
    hookspecs,
    listing,
    preflight,
    reports,
    results,
    shard,
    wire,
)
from pytest_deploycheck.checklist import collect as checklist_collect
from pytest_deploycheck.checklist.loaded import load as load_checklists
from pytest_deploycheck.expectations import collect as expectations_collect
from pytest_deploycheck.governance import attestations, waivers
from pytest_deploycheck.inventory import load_inventory
from pytest_deploycheck.markers import MARKERS, Severity
from pytest_deploycheck.options import add_options, resolve, resolve_paths
from pytest_deploycheck.redact import Redactor, install_log_filter
from pytest_deploycheck.reports.summary import SUMMARY_KEY, GoLiveSummary
from pytest_deploycheck.state import PYTEST_RUNS_NOTHING, STATE_KEY, USAGE_ERROR_FILE, DeploycheckState, xdist_active
from pytest_deploycheck.targets.reach import Reachability, TargetPool

#: The parts registered with every run, by plugin name.
PARTS = {"deploycheck-collection": collection, "deploycheck-fixtures": fixtures, "deploycheck-results": results,
         "deploycheck-checklist-items": checklist_collect, "deploycheck-list": listing,
         "deploycheck-expectations": expectations_collect, "deploycheck-catalog": catalog, "deploycheck-preflight": preflight,
         "deploycheck-distribution": distribution, "deploycheck-shard": shard, "deploycheck-heap": heap,
         "deploycheck-wire": wire}


# --------------------------------------------------------------------------- configuration


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)
    for name, part in PARTS.items():
        if not pluginmanager.is_registered(part):
            pluginmanager.register(part, name)


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


@pytest.hookimpl(trylast=True)  # after the logging plugin exists, so its handlers get our filter
def pytest_configure(config: pytest.Config) -> None:
    for name, help_text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {help_text}" if not help_text.startswith(name) else help_text)
    redactor = Redactor()
    path = resolve(config, "deploycheck_inventory")
    timeout = resolve(config, "deploycheck_timeout")
    severity = resolve(config, "deploycheck_severity")
    fail_on = resolve(config, "deploycheck_fail_on")
    inventory = load_inventory(path, redactor=redactor, timeout=timeout) if path else None
    if inventory is not None:
        _refuse_testinfra_options(config)
    worker_input = getattr(config, "workerinput", None)
    state_dir, owns = None, False
    if worker_input is not None and worker_input.get("deploycheck_state_dir"):
        state_dir = Path(worker_input["deploycheck_state_dir"])
    elif worker_input is None and xdist_active(config):
        state_dir, owns = Path(tempfile.mkdtemp(prefix="deploycheck-state-")), True
    reach = Reachability(state_dir)
    state = DeploycheckState(
        inventory=inventory, redactor=redactor, reach=reach, pool=TargetPool(reach), fail_on=fail_on,
        min_severity=Severity.parse(severity) if severity else None, state_dir=state_dir, owns_state_dir=owns,
    )
    config.stash[STATE_KEY] = state
    state.checklists = load_checklists(resolve_paths(config, "deploycheck_checklist"))
    if listing.wanted(config) and worker_input is None and xdist_active(config):
        raise pytest.UsageError("--deploycheck-list collects the catalog in this process; run it without -n/--dist")
    state.expectations = expectations_collect.load(resolve_paths(config, "deploycheck_expectations"), inventory)
    # The checklist and the expectations files are collected like test files (checklist/, expectations/).
    for path in [loaded.path for loaded in state.checklists] + [loaded.path for loaded in state.expectations]:
        if not any(Path(arg.split("::", 1)[0]).resolve() == path for arg in config.args):
            config.args.append(str(path))
    # The shipped catalog, collected the same way: on by default for a go-live run (catalog.py).
    choice = resolve(config, "deploycheck_catalog")
    if choice is None:
        choice = catalog.ALL if inventory is not None or state.checklists or listing.wanted(config) else catalog.NONE
    catalog.add_to_run(config, choice)
    logging_plugin = config.pluginmanager.get_plugin("logging-plugin")
    if logging_plugin is not None:
        handlers = [getattr(logging_plugin, n, None) for n in ("caplog_handler", "report_handler", "log_cli_handler", "log_file_handler")]
        install_log_filter(redactor, [h for h in handlers if h is not None])
        live = getattr(logging_plugin, "log_cli_handler", None)
        if live is not None and inventory is not None:
            live.addFilter(_live_from_main_thread)

    if inventory is not None:
        # Registered now, after every entry-point plugin, so this ``host`` fixture deliberately
        # takes precedence over pytest-testinfra's when an inventory names the hosts.
        config.pluginmanager.register(fixtures.HOST_FIXTURES, "deploycheck-host")
        config.hook.pytest_deploycheck_inventory_loaded(config=config, inventory=inventory)

    # Governance: attestations and waivers, in every process (their hooks run on the worker that
    # ran the item); a malformed file is a UsageError here, before anything runs.
    attestations.register(config, inventory)
    waivers.register(config, inventory)

    if worker_input is None and not _runs_nothing(config):
        summary = GoLiveSummary(config, inventory, state.fail_on)
        config.stash[SUMMARY_KEY] = summary
        config.pluginmanager.register(summary, "deploycheck-summary")
        if config.pluginmanager.hasplugin("xdist"):
            config.pluginmanager.register(_XdistHooks(summary, state), "deploycheck-xdist")
        if inventory is not None:  # a go-live run; a project's own tests keep pytest's signal handling
            _install_sigterm(config)
        reports.register(config)  # the report writers: JSON, Markdown checklist, JUnit, HTML


def _live_from_main_thread(record: logging.LogRecord) -> bool:
    """Live logging (``log_cli``) shows only the main thread's records in a go-live run.  pytest
    shows a live record by suspending its process-wide capture, so one logged from a read-ahead
    thread while a check runs let that check's own output reach the terminal unredacted (2,000
    lines written beside a logging thread: 810 got through).  The records of other threads are
    still in the report's captured log."""
    return record.thread == threading.main_thread().ident

def _runs_nothing(config: pytest.Config) -> bool:
    """``--fixtures``, ``--fixtures-per-test`` and ``--setup-plan`` collect but run no check: no
    verdict, no gate, no report (``--collect-only`` is handled by the go-live summary itself)."""
    return any(config.getoption(dest, False) for dest in PYTEST_RUNS_NOTHING if dest != "collectonly")


#: pytest-testinfra's options (dest -> flag, what to do instead): with --inventory the inventory
#: names every host and how to reach it, so a testinfra option would be silently ignored.
TESTINFRA_OPTIONS = {
    "hosts": ("--hosts", "name the hosts in the inventory's hosts section (backend: ssh://user@web1) or in an Ansible "
              "inventory (ansible: {inventory: PATH})"),
    "connection": ("--connection", "set each host's backend in the inventory (ssh://, paramiko://, docker://, local://)"),
    "ssh_config": ("--ssh-config", "set ssh_config on the inventory's hosts"),
    "ssh_extra_args": ("--ssh-extra-args", "put the options in an ssh_config file and set ssh_config on the inventory's hosts"),
    "ssh_identity_file": ("--ssh-identity-file", "set ssh_identity_file on the inventory's hosts"),
    "sudo": ("--sudo", "set sudo: true on the inventory's hosts"),
    "sudo_user": ("--sudo-user", "set sudo_user on the inventory's hosts"),
    "ansible_inventory": ("--ansible-inventory", "name it in the inventory: ansible: {inventory: PATH}"),
    "force_ansible": ("--force-ansible", "the inventory's hosts are reached directly; drop the option"),
}


def _refuse_testinfra_options(config: pytest.Config) -> None:
    """A testinfra option next to --inventory is a usage error naming the inventory key to use."""
    given = [(flag, fix) for dest, (flag, fix) in TESTINFRA_OPTIONS.items() if config.getoption(dest, None) not in (None, False, "")]
    if given:
        raise pytest.UsageError("\n".join(f"{flag}: pytest-testinfra's option is not used with --inventory; {fix}" for flag, fix in given))


class _XdistHooks:
    """Registered only when pytest-xdist is installed (its hooks would be unknown otherwise)."""

    def __init__(self, summary: GoLiveSummary, state: DeploycheckState) -> None:
        self.summary = summary
        self.state = state

    def pytest_configure_node(self, node: Any) -> None:
        if self.state.state_dir is not None:
            node.workerinput["deploycheck_state_dir"] = str(self.state.state_dir)

    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        """``-n`` without ``--dist``: a target's items stay on one worker (``distribution.py``)."""
        if self.state.state_dir is None or self.state.inventory is None or not distribution.by_target(config):
            return None
        return distribution.make_scheduler(config, log, self.state.state_dir, self.state.inventory)

    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        problem = self.state.state_dir / USAGE_ERROR_FILE if self.state.state_dir is not None else None
        if problem is not None and problem.exists():
            raise pytest.UsageError(problem.read_text())
        self.summary.xdist_collected(ids)


def _install_sigterm(config: pytest.Config) -> None:
    """SIGTERM (a CI job cancelled) ends the run like Ctrl-C: reports are still written, NO-GO."""
    if threading.current_thread() is not threading.main_thread():
        return

    def on_sigterm(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt("SIGTERM")

    previous = signal.signal(signal.SIGTERM, on_sigterm)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    config.add_cleanup(restore)


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(STATE_KEY, None)
    if state is None:
        return
    state.pool.close()
    if state.owns_state_dir and state.state_dir is not None:
        shutil.rmtree(state.state_dir, ignore_errors=True)
    for name in ("deploycheck-summary", "deploycheck-xdist", "deploycheck-host"):
        plugin = config.pluginmanager.get_plugin(name)
        if plugin is not None:
            config.pluginmanager.unregister(plugin)


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    state = config.stash.get(STATE_KEY, None)
    if state is None or state.inventory is None:
        return None
    inv = state.inventory
    counts = ", ".join(f"{n} {k}" for k, n in inv.counts().items()) or "no targets"
    lines = [f"deploycheck: inventory {inv.name} ({os.path.relpath(inv.path)}, sha256 {inv.sha256[:12]}): {counts}; "
             f"timeout {inv.timeout:g}s; fail-on {state.fail_on}; active probes {'on' if inv.active_probes else 'off by default'}"]
    cpus = distribution.auto_kept_in_one_process(config)
    if cpus is not None:
        lines.append(f"deploycheck: -n auto: one process on {cpus} CPU(s) (workers start from {distribution.AUTO_MIN_CPUS} CPUs; "
                     "this process already overlaps the targets' waits); -n 2 starts two")
    return lines
