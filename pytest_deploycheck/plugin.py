"""pytest-deploycheck's entry module: options, configuration, the target fixtures.

Everything else lives in one module per concern: ``inventory`` (YAML to model), ``targets``
(handles and the dead-target rule), ``markers`` (check metadata), ``outcomes``, ``decision``
(the verdict), ``summary`` (the go-live reporter), ``redact`` (secrets), ``hookspecs``.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_deploycheck import hookspecs
from pytest_deploycheck.inventory import Inventory, Target, load_inventory
from pytest_deploycheck.markers import MARKERS, CheckMeta, Severity, check_meta, duplicate_ids, is_check
from pytest_deploycheck.options import add_options, resolve
from pytest_deploycheck.outcomes import (
    TESTSTATUS,
    Evidence,
    Outcome,
    TargetError,
    classify,
    jsonable,
    message_of,
    not_applicable,
)
from pytest_deploycheck.redact import Redactor, install_log_filter
from pytest_deploycheck.summary import GoLiveSummary, write_shared_catalog
from pytest_deploycheck.targets import (
    TARGET_FIXTURES,
    FilesTarget,
    HttpTarget,
    MysqlTarget,
    PostgresTarget,
    Reachability,
    RedisTarget,
    TargetPool,
    TlsTarget,
    applies,
)

if TYPE_CHECKING:
    from pytest_deploycheck.attestations import Attestation

NO_INVENTORY = (
    "these checks need an inventory: pass --inventory=PATH (or set DEPLOYCHECK_INVENTORY, or the ini key "
    "deploycheck_inventory); to check this machine: pytest --inventory=inventories/localhost.yml"
)


@dataclass
class DeploycheckState:
    """Per-process state, in ``config.stash[STATE_KEY]``."""

    inventory: Inventory | None
    redactor: Redactor
    reach: Reachability
    pool: TargetPool
    fail_on: str
    min_severity: Severity | None
    state_dir: Path | None
    owns_state_dir: bool
    needs_inventory: bool = False


@dataclass(frozen=True)
class NoTarget:
    """The single parameter of a check that has no matching target: it ends as not applicable."""

    reason: str


STATE_KEY = pytest.StashKey[DeploycheckState]()
META_KEY = pytest.StashKey[CheckMeta]()
EVIDENCE_KEY = pytest.StashKey[Evidence]()
OUTCOME_KEY = pytest.StashKey[Outcome]()
SUMMARY_KEY = pytest.StashKey[GoLiveSummary]()


# --------------------------------------------------------------------------- configuration


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


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
    worker_input = getattr(config, "workerinput", None)
    state_dir, owns = None, False
    if worker_input is not None and worker_input.get("deploycheck_state_dir"):
        state_dir = Path(worker_input["deploycheck_state_dir"])
    elif worker_input is None and _xdist_active(config):
        state_dir, owns = Path(tempfile.mkdtemp(prefix="deploycheck-state-")), True
    reach = Reachability(state_dir)
    state = DeploycheckState(
        inventory=inventory, redactor=redactor, reach=reach, pool=TargetPool(reach),
        fail_on=fail_on,
        min_severity=Severity.parse(severity) if severity else None, state_dir=state_dir, owns_state_dir=owns,
    )
    config.stash[STATE_KEY] = state
    logging_plugin = config.pluginmanager.get_plugin("logging-plugin")
    if logging_plugin is not None:
        handlers = [getattr(logging_plugin, n, None) for n in ("caplog_handler", "report_handler", "log_cli_handler", "log_file_handler")]
        install_log_filter(redactor, [h for h in handlers if h is not None])
    if inventory is not None:
        # Registered now, after every entry-point plugin, so this ``host`` fixture deliberately
        # takes precedence over pytest-testinfra's when an inventory names the hosts.
        from pytest_deploycheck import hostfixture

        config.pluginmanager.register(hostfixture, "deploycheck-host")
        config.hook.pytest_deploycheck_inventory_loaded(config=config, inventory=inventory)

    # Governance: attestations and waivers, in every process (their hooks run on the worker that
    # ran the item); a malformed file is a UsageError here, before anything runs.
    from pytest_deploycheck import attestations, waivers

    attestations.register(config, inventory)
    waivers.register(config, inventory)

    if worker_input is None:
        summary = GoLiveSummary(config, inventory, state.fail_on)
        config.stash[SUMMARY_KEY] = summary
        config.pluginmanager.register(summary, "deploycheck-summary")
        if config.pluginmanager.hasplugin("xdist"):
            config.pluginmanager.register(_XdistHooks(summary, state), "deploycheck-xdist")
        if inventory is not None:  # a go-live run; a project's own tests keep pytest's signal handling
            _install_sigterm(config)
        from pytest_deploycheck import reports  # the report writers: JSON, Markdown checklist, JUnit, HTML

        reports.register(config)


def _xdist_active(config: pytest.Config) -> bool:
    return bool(config.pluginmanager.hasplugin("xdist") and (config.getoption("numprocesses", None) or config.getoption("dist", "no") != "no"))


class _XdistHooks:
    """Registered only when pytest-xdist is installed (its hooks would be unknown otherwise)."""

    def __init__(self, summary: GoLiveSummary, state: DeploycheckState) -> None:
        self.summary = summary
        self.state = state

    def pytest_configure_node(self, node: Any) -> None:
        if self.state.state_dir is not None:
            node.workerinput["deploycheck_state_dir"] = str(self.state.state_dir)

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
    return [f"deploycheck: inventory {inv.name} ({os.path.relpath(inv.path)}, sha256 {inv.sha256[:12]}): {counts}; "
            f"timeout {inv.timeout:g}s; fail-on {state.fail_on}; active probes {'on' if inv.active_probes else 'off by default'}"]


# --------------------------------------------------------------------------- collection


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    state = metafunc.config.stash.get(STATE_KEY, None)
    if state is None:
        return
    mark = metafunc.definition.get_closest_marker("targets")
    roles = set(_as_tuple(mark.kwargs.get("roles"))) if mark else set()
    tags = set(_as_tuple(mark.kwargs.get("tags"))) if mark else set()
    for fixture, kinds in TARGET_FIXTURES.items():
        if fixture not in metafunc.fixturenames:
            continue
        if state.inventory is None:
            # A project's own testinfra tests (no check marker) keep testinfra's ``host``.
            state.needs_inventory = state.needs_inventory or is_check(metafunc.definition)
            continue
        targets = sorted(
            (t for kind in kinds for t in state.inventory.of_kind(kind)
             if applies(fixture, t) and (not roles or roles & set(t.roles)) and (not tags or tags & set(t.tags))),
            key=lambda t: t.name,
        )
        if targets:
            metafunc.parametrize(fixture, [(t.kind, t.name) for t in targets], ids=[t.name for t in targets], indirect=True)
        else:
            what = " or ".join(kinds) if fixture != "tls_endpoint" else "tls (or https http)"
            narrowed = ""
            if roles:
                narrowed += f" with role {' or '.join(sorted(roles))}"
            if tags:
                narrowed += f" with tag {' or '.join(sorted(tags))}"
            metafunc.parametrize(fixture, [NoTarget(f"no {what} targets{narrowed} in inventory {state.inventory.name}")],
                                 ids=["no-targets"], indirect=True)


def _as_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


@pytest.hookimpl(tryfirst=True)  # before -m/-k deselection, which reads the markers we add
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    state = config.stash.get(STATE_KEY, None)
    if state is None:
        return
    problems: list[str] = []
    by_function: dict[tuple[str, str], CheckMeta] = {}
    for item in items:
        if not is_check(item):
            continue  # a project's own test: no metadata, no verdict
        meta = check_meta(item, problems)
        if meta is None:
            continue
        item.stash[META_KEY] = meta
        by_function[(os.path.relpath(item.path), getattr(item, "originalname", item.name))] = meta
        item.add_marker(meta.severity.value)
        item.extra_keyword_matches.update({meta.id, meta.section, meta.severity.value})
    problems = list(dict.fromkeys(problems))  # a parametrized check reports its problem once
    problems += duplicate_ids(by_function)
    if problems:
        head = f"{len(problems)} problems in the check catalog:\n" if len(problems) > 1 else ""
        collection_usage_error(config, items, head + "\n".join(problems))
        return
    if state.needs_inventory:
        collection_usage_error(config, items, NO_INVENTORY)
        return
    if state.min_severity is not None:
        keep: list[pytest.Item] = []
        drop: list[pytest.Item] = []
        for item in items:
            meta = item.stash.get(META_KEY, None)
            (drop if meta is not None and not meta.severity.at_least(state.min_severity) else keep).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep


def pytest_collection_finish(session: pytest.Session) -> None:
    """Under xdist the controller never collects: a worker shares the checks it collected, so an
    interrupted run still names the checks that never started (``summary.write_shared_catalog``)."""
    state = session.config.stash.get(STATE_KEY, None)
    if state is None or state.state_dir is None or not hasattr(session.config, "workerinput"):
        return
    entries: dict[str, dict[str, Any]] = {}
    for item in session.items:
        meta = item.stash.get(META_KEY, None)
        if meta is not None:
            kind, target = _item_target(item)
            entries[item.nodeid] = {"check": meta.as_dict(), "target": target, "target_kind": kind}
    write_shared_catalog(state.state_dir, entries)


USAGE_ERROR_FILE = "usage-error.txt"


def collection_usage_error(config: pytest.Config, items: list[pytest.Item], message: str) -> None:
    """Stop the run with a one-line usage error (exit 4) found while collecting.

    An xdist worker cannot raise one: xdist turns it into an INTERNALERROR that loses the
    message.  A worker writes it to the run's state directory and runs nothing; the controller
    raises it when the worker reports its collection (``_XdistHooks``).
    """
    state = config.stash.get(STATE_KEY, None)
    if not hasattr(config, "workerinput") or state is None or state.state_dir is None:
        raise pytest.UsageError(message)
    target = state.state_dir / USAGE_ERROR_FILE
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(message)
    os.replace(tmp, target)
    items[:] = []


# --------------------------------------------------------------------------- fixtures


def _state(request: pytest.FixtureRequest) -> DeploycheckState:
    return request.config.stash[STATE_KEY]


def resolve_target(request: pytest.FixtureRequest) -> Target:
    """The inventory target this item was parametrized with; applies the run-wide rules
    (not applicable, active probes off, dead target) before the check starts."""
    state = _state(request)
    param = getattr(request, "param", None)
    if isinstance(param, NoTarget):
        not_applicable(param.reason)
    if state.inventory is None or not isinstance(param, tuple):
        raise TargetError(NO_INVENTORY)
    target = state.inventory.get(*param)
    meta = request.node.stash.get(META_KEY, None)
    if meta is not None and meta.active_probe and not target.active_probes:
        not_applicable(f"{target.name}: active probe not enabled; set active_probes: true on the target "
                       "(or at the top of the inventory) to allow it")
    state.reach.preflight(target)
    return target


@pytest.fixture
def http_endpoint(request: pytest.FixtureRequest) -> HttpTarget:
    """An ``http`` target of the inventory: ``http_endpoint.get("/health")`` sends a read-only
    request with the target's timeout and CA bundle.  Parametrized over every http target."""
    return _state(request).pool.handle("http_endpoint", resolve_target(request))  # type: ignore[no-any-return]


@pytest.fixture
def tls_endpoint(request: pytest.FixtureRequest) -> TlsTarget:
    """A TLS endpoint: every ``tls`` target plus every ``http`` target with an https:// URL.
    ``tls_endpoint.handshake(ssl_context)`` returns a connected ``ssl.SSLSocket``."""
    return _state(request).pool.handle("tls_endpoint", resolve_target(request))  # type: ignore[no-any-return]


@pytest.fixture
def postgres(request: pytest.FixtureRequest) -> PostgresTarget:
    """A ``postgres`` target: ``postgres.query(sql)`` runs in a read-only session with connect
    and statement timeouts; one connection per target for the whole run."""
    return _state(request).pool.handle("postgres", resolve_target(request))  # type: ignore[no-any-return]


@pytest.fixture
def mysql(request: pytest.FixtureRequest) -> MysqlTarget:
    """A ``mysql`` (MySQL or MariaDB) target: ``mysql.query(sql)`` in a read-only session."""
    return _state(request).pool.handle("mysql", resolve_target(request))  # type: ignore[no-any-return]


@pytest.fixture
def redis(request: pytest.FixtureRequest) -> RedisTarget:
    """A ``redis`` target: ``redis.command("CONFIG", "GET", "maxmemory")`` with timeouts."""
    return _state(request).pool.handle("redis", resolve_target(request))  # type: ignore[no-any-return]


@pytest.fixture
def files(request: pytest.FixtureRequest) -> FilesTarget:
    """A ``files`` target: a local folder with the deployed application's source or configuration."""
    return _state(request).pool.handle("files", resolve_target(request))  # type: ignore[no-any-return]


@pytest.fixture
def evidence(request: pytest.FixtureRequest) -> Evidence:
    """Record what the check observed, for every report: ``evidence.record(days_left=12)``."""
    ev: Evidence = request.node.stash.setdefault(EVIDENCE_KEY, Evidence())
    return ev


@pytest.fixture
def inventory(request: pytest.FixtureRequest) -> Inventory:
    """The loaded inventory (read-only)."""
    inv = _state(request).inventory
    if inv is None:
        raise TargetError(NO_INVENTORY)
    return inv


@pytest.fixture
def attestation(request: pytest.FixtureRequest) -> Attestation | None:
    """The attestation on file for this manual item (an expired one too), or None, so a check can
    verify what a person attested: ``require(attestation is None or attestation.age_days <= 90, ...)``.
    Fields: ``by``, ``role``, ``date``, ``evidence``, ``expires``, ``source``; ``age_days``, ``expired()``."""
    from pytest_deploycheck.attestations import attestation_for

    return attestation_for(request.config, request.node)


@pytest.fixture
def check(request: pytest.FixtureRequest) -> CheckMeta:
    """The running check's metadata (id, title, severity, section, ...)."""
    meta: CheckMeta | None = request.node.stash.get(META_KEY, None)
    if meta is None:
        raise TargetError("the check fixture is for catalog checks with @pytest.mark.check(...)")
    return meta


@pytest.fixture
def redactor(request: pytest.FixtureRequest) -> Redactor:
    """The run's secret masker.  A secret a check obtains at run time (a login's token, a session
    cookie) is not an inventory value; register it and every report shows it as ``***``::

        token = http_endpoint.sign_in().json()["access_token"]
        redactor.add(token)
    """
    return _state(request).redactor


# --------------------------------------------------------------------------- outcomes


def _item_target(item: pytest.Item) -> tuple[str | None, str | None]:
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None, None
    for fixture in TARGET_FIXTURES:
        param = callspec.params.get(fixture)
        if isinstance(param, tuple):
            return param[0], param[1]
    return None, None


def _skip_longrepr(item: pytest.Item, reason: str) -> tuple[str, int, str]:
    path, lineno, _ = item.reportinfo()
    return str(path), (lineno or 0) + 1, reason


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    state = item.config.stash.get(STATE_KEY, None)
    if state is None:
        return report
    meta = item.stash.get(META_KEY, None)
    if meta is not None:
        _annotate(item, call, report, meta, state)
    redact_report(report, state.redactor)
    return report


def _annotate(item: pytest.Item, call: pytest.CallInfo[None], report: pytest.TestReport, meta: CheckMeta, state: DeploycheckState) -> None:
    exc = call.excinfo.value if call.excinfo is not None else None
    outcome = classify(report.when, report.outcome, exc)
    message = message_of(exc)
    kind, target = _item_target(item)
    hook = item.config.hook
    attestation = waiver = None
    if report.when == "call" and outcome is Outcome.PASSED and meta.manual:
        attestation = hook.pytest_deploycheck_attestation(config=item.config, check=meta, target=target)
        if not attestation or attestation.get("status", "valid") != "valid":
            reason = (attestation or {}).get("reason") or "no attestation recorded"
            message = f"pending attestation ({reason})" + (f": {meta.instructions}" if meta.instructions else "")
            outcome = Outcome.MANUAL
            report.outcome = "skipped"
            report.longrepr = _skip_longrepr(item, f"manual: {message}")
            attestation = attestation or None
    if report.when == "call" and outcome is Outcome.FAILED:
        waiver = hook.pytest_deploycheck_waiver(config=item.config, check=meta, target=target, message=state.redactor.redact(message))
        if waiver:
            outcome = Outcome.WAIVED
            report.outcome = "skipped"
            report.longrepr = _skip_longrepr(item, f"waived ({waiver.get('id', '?')}, approved by {waiver.get('approver', '?')} until {waiver.get('expires', '?')}): {message}")
    previous = item.stash.get(OUTCOME_KEY, Outcome.PASSED)
    if previous is Outcome.PASSED or report.when == "call":
        item.stash[OUTCOME_KEY] = outcome
    evidence = item.stash.get(EVIDENCE_KEY, None)
    report.deploycheck = state.redactor.redact_obj({  # type: ignore[attr-defined]
        "phase": report.when, "outcome": outcome.value, "check": meta.as_dict(), "target": target, "target_kind": kind,
        "message": message, "evidence": jsonable(evidence.values) if evidence else {},
        "attestation": jsonable(attestation) if attestation else None, "waiver": jsonable(waiver) if waiver else None,
    })
    if report.when == "teardown":
        final = item.stash.get(OUTCOME_KEY, outcome)
        report.user_properties = [*report.user_properties, ("check_id", meta.id), ("title", meta.title),
                                  ("severity", meta.severity.value), ("section", meta.section),
                                  ("target", target or "-"), ("outcome", final.value)]


def redact_report(report: pytest.TestReport | pytest.CollectReport, redactor: Redactor) -> None:
    """Mask secrets in a report's traceback, message and captured output, in place."""
    if not redactor.secrets:
        return
    longrepr = report.longrepr
    if isinstance(longrepr, (str, tuple)):
        report.longrepr = redactor.redact_obj(longrepr)
    elif longrepr is not None:
        redactor.redact_obj(longrepr)
    report.sections = [(title, redactor.redact(content)) for title, content in report.sections]
    if isinstance(report, pytest.TestReport):
        report.user_properties = [(k, redactor.redact(str(v))) for k, v in report.user_properties]


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield
    state = collector.config.stash.get(STATE_KEY, None)
    if state is not None:
        redact_report(report, state.redactor)
    return report


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> tuple[str, str, str] | None:
    """Count error, n/a, manual and waived apart, so a pending item never reads as a pass."""
    data = getattr(report, "deploycheck", None)
    if not isinstance(data, dict) or report.when == "teardown":
        return None
    return TESTSTATUS.get(Outcome(data["outcome"]))
