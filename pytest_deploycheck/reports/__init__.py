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
    manager.register(ReportGuard(), "deploycheck-report-guard")
    json_path = resolve(config, "deploycheck_json")
    if json_path:
        manager.register(FileReport(output_path(json_path), "JSON report",
                                    lambda summary: jsonreport.dumps(jsonreport.document(summary, redactor))), "deploycheck-json")
    md_path = resolve(config, "deploycheck_checklist_md")
    if md_path:
        manager.register(FileReport(output_path(md_path), "checklist",
                                    lambda summary: markdown.render(summary, redactor)), "deploycheck-checklist")
    xml_path = getattr(config.option, "xmlpath", None)
    if xml_path:
        prefix = getattr(config.option, "junitprefix", None)
        manager.register(junit.JunitRewriter(output_path(xml_path), junit.family(config), prefix, redactor), "deploycheck-junit")
    html_path = resolve(config, "deploycheck_html")
    if manager.hasplugin("html"):
        from pytest_deploycheck.reports import html  # imports pytest-html

        if html_path:
            html.enable_shortcut(config, output_path(html_path))
        if getattr(config.option, "htmlpath", None) and (html_path or state is None or state.inventory is not None):
            # A project's own tests (no inventory) keep pytest-html's page as it is.
            manager.register(html.HtmlReport(config, redactor), "deploycheck-html")
    elif html_path:
        raise pytest.UsageError("--deploycheck-html needs pytest-html (pip install pytest-html), which is not installed "
                                "or was disabled with -p no:html; install it or drop the option")
    config.add_cleanup(lambda: unregister(config))


class FileReport:
    """A report that is one file rendered from the run summary (JSON, the Markdown checklist)."""

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


def output_path(value: str) -> Path:
    """As pytest's ``--junitxml`` does: ``~`` and ``$VARS`` expanded, relative to the start directory."""
    return Path(os.path.abspath(os.path.expanduser(os.path.expandvars(value))))


class ReportGuard:
    """Keeps a cancelled CI job from cutting a report in half.

    The plugin turns SIGTERM into KeyboardInterrupt so an interrupted run still reports.  Once
    the reports are being written (session finish), a second SIGTERM would interrupt the
    writers themselves and leave a traceback instead of a file; from then until the end of
    the run it is noted and ignored: the process ends a moment later anyway.
    """

    def __init__(self) -> None:
        self.deferred = False
        self.previous: Any = None

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def note(signum: int, frame: Any) -> None:
            self.deferred = True

        self.previous = signal.signal(signal.SIGTERM, note)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.deferred:
            terminalreporter.write_line("deploycheck: SIGTERM received while the reports were written; they were finished first",
                                        yellow=True)

    @pytest.hookimpl(trylast=True)
    def pytest_unconfigure(self) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)
            self.previous = None

