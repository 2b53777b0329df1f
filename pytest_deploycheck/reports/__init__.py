"""Reports: one module per report, and the one call ``plugin.py`` makes to set them up.

``summary.py`` is the go-live summary: it gathers every result, decides the verdict, prints the
closing block in the terminal and hands the run to the writers through the
``pytest_deploycheck_summary`` hook.  The writers: ``jsonreport.py`` (``--deploycheck-json``),
``markdown.py`` (the Markdown checklist, ``--deploycheck-checklist-md``), ``junit.py`` (rewrites
``--junitxml``) and ``html.py`` (pytest-html's page, only when pytest-html is present).
``common.py`` is what they share: atomic files and text made safe to print.

``register(config)``: on the controller (or the serial process) registers the writers the
options ask for; each implements ``pytest_deploycheck_summary``, which the go-live summary calls
once at the end of every run, failed and interrupted ones included.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_deploycheck.options import resolve
from pytest_deploycheck.reports import jsonreport, junit, markdown
from pytest_deploycheck.reports.common import reporting_errors, write_atomic
from pytest_deploycheck.reports.summary import RunSummary
from pytest_deploycheck.state import STATE_KEY

PLUGIN_NAMES = ("deploycheck-json", "deploycheck-checklist", "deploycheck-junit", "deploycheck-html", "deploycheck-report-guard")


def register(config: pytest.Config) -> None:
    """Register the report writers the options ask for; a no-op on xdist workers."""
    if hasattr(config, "workerinput"):
        return  # reports are written once, by the controller, which sees every result
    state = config.stash.get(STATE_KEY, None)
    redactor = state.redactor if state is not None else None
    manager = config.pluginmanager
    manager.register(ReportGuard(go_live=state is not None and state.inventory is not None), "deploycheck-report-guard")
    json_path = resolve(config, "deploycheck_json")
    if json_path:
        manager.register(FileReport(output_path(json_path, "--deploycheck-json"), "JSON report",
                                    lambda summary: jsonreport.dumps(jsonreport.document(summary, redactor))), "deploycheck-json")
    md_path = resolve(config, "deploycheck_checklist_md")
    if md_path:
        manager.register(FileReport(output_path(md_path, "--deploycheck-checklist-md"), "checklist",
                                    lambda summary: markdown.render(summary, redactor)), "deploycheck-checklist")
    xml_path = getattr(config.option, "xmlpath", None)
    if xml_path:
        prefix = getattr(config.option, "junitprefix", None)
        manager.register(junit.JunitRewriter(output_path(xml_path, "--junitxml"), junit.family(config), prefix, redactor), "deploycheck-junit")
    html_path = resolve(config, "deploycheck_html")
    if manager.hasplugin("html"):
        from pytest_deploycheck.reports import html  # imports pytest-html

        if html_path:
            html.enable_shortcut(config, output_path(html_path, "--deploycheck-html"))
        if getattr(config.option, "htmlpath", None) and (html_path or state is None or state.inventory is not None):
            output_path(str(config.option.htmlpath), "--html")  # a directory or an unwritable folder: say so now
            # A project's own tests (no inventory) keep pytest-html's page as it is.
            manager.register(html.HtmlReport(config, redactor), "deploycheck-html")
    elif html_path:
        raise pytest.UsageError("--deploycheck-html needs pytest-html (pip install pytest-html), which is not installed "
                                "or was disabled with -p no:html; install it or drop the option")
    config.add_cleanup(lambda: unregister(config))


class FileReport:
    """A report that is one file rendered from the run summary (JSON, the Markdown checklist)."""

    DEPLOYCHECK_WRITER = True  # called again on its own if another summary hook raised (summary.write_reports_again)

    def __init__(self, path: Path, label: str, render: Callable[[RunSummary], str]) -> None:
        self.path = path
        self.label = label
        self.render = render
        self.written = False

    @pytest.hookimpl(trylast=True)  # after the modules that add waivers and attestations to summary.extra
    def pytest_deploycheck_summary(self, config: pytest.Config, summary: RunSummary) -> None:
        with reporting_errors(config, self.label, self.path):
            write_atomic(self.path, self.render(summary))
            self.written = True

    @pytest.hookimpl(trylast=True)  # below the go-live summary
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.written:
            terminalreporter.write_sep("-", f"deploycheck {self.label}: {self.path}")


def unregister(config: pytest.Config) -> None:
    for name in PLUGIN_NAMES:
        plugin = config.pluginmanager.get_plugin(name)
        if plugin is not None:
            config.pluginmanager.unregister(plugin)


def output_path(value: str, option: str = "") -> Path:
    """As pytest's ``--junitxml`` does: ``~`` and ``$VARS`` expanded, relative to the start directory.

    A path that is a directory, or whose folder cannot be created or written, is a usage error
    now, before anything runs: finding out after an hour of checks would cost the report.
    """
    path = Path(os.path.abspath(os.path.expanduser(os.path.expandvars(value))))
    what = f"{option}={value}" if option else value
    if path.is_dir():
        raise pytest.UsageError(f"{what}: is a directory; give a file name for the report (e.g. {os.path.join(value, 'report' + (path.suffix or '.out'))})")
    if path.exists() and not path.is_file():
        raise pytest.UsageError(f"{what}: exists and is not a regular file; give a file name for the report")
    folder = path.parent
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise pytest.UsageError(f"{what}: {existing} is not a folder; give a path in a folder")
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        raise pytest.UsageError(f"{what}: cannot write in {existing} (permission denied); choose a folder this user can write")
    if path.exists() and not os.access(path, os.W_OK) and not os.access(folder, os.W_OK):
        raise pytest.UsageError(f"{what}: the file is not writable; choose another path")
    return path


class ReportGuard:
    """Keeps a cancelled CI job, or a second Ctrl-C, from cutting a report in half.

    The plugin turns SIGTERM into KeyboardInterrupt so an interrupted run still reports.  Once
    the reports are being written (session finish), a second SIGTERM or Ctrl-C would interrupt
    the writers themselves and leave a traceback instead of a file; from then until the end of
    the run it is noted and ignored: the process ends a moment later anyway.  A third Ctrl-C
    still ends it at once (someone who insists gets out); runs without an inventory keep
    pytest's Ctrl-C as it is.
    """

    SIGNALS = (("SIGTERM", signal.SIGTERM), ("Ctrl-C (SIGINT)", signal.SIGINT))

    def __init__(self, go_live: bool = True) -> None:
        self.go_live = go_live  # a project's own tests keep pytest's Ctrl-C
        self.deferred: list[str] = []
        self.previous: dict[int, Any] = {}
        self.interrupts = 0

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for name, number in self.SIGNALS:
            if number == signal.SIGINT and not self.go_live:
                continue

            def note(signum: int, frame: Any, name: str = name) -> None:
                if signum == signal.SIGINT:
                    self.interrupts += 1
                    if self.interrupts > 2:  # the person insists: let them out, reports or not
                        raise KeyboardInterrupt
                if name not in self.deferred:
                    self.deferred.append(name)

            self.previous[number] = signal.signal(number, note)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.deferred:
            terminalreporter.write_line(f"deploycheck: {' and '.join(self.deferred)} received while the reports were written; "
                                        "they were finished first", yellow=True)

    @pytest.hookimpl(trylast=True)
    def pytest_unconfigure(self) -> None:
        for number, previous in self.previous.items():
            signal.signal(number, previous)
        self.previous = {}

