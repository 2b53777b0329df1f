"""JUnit XML (``--junitxml``) that CI servers show as a checklist.

pytest's own writer names a test case after its node id (``test_tls.test_cert_expiry[api]``)
and, in every family, writes each report's ``user_properties`` as per-testcase
``<properties>`` - which the xunit2 schema does not allow.  Once pytest has written the file,
``JunitRewriter`` rewrites it (atomically) so every check reads the same in any CI server:

- ``classname`` ``<section>.<check id>`` and ``name`` ``<check id> <title> [<target>] (<severity>)``;
- per-testcase properties (check_id, title, section, severity, target, outcome, ...) only
  under ``junit_family=xunit1``/``legacy``; under xunit2 they are removed, so the file validates;
- the failure / error / skipped ``message`` is the check's message, and the element's text
  ends with a block naming the check, its target and the evidence;
- the suite gets ``deploycheck.*`` properties (verdict, rule, inventory and its sha256,
  catalog digest, plugin version), allowed in both families;
- items an interrupted run never finished are added as ``<skipped type="deploycheck.not_run">``;
- test cases are in catalog order, so a serial and an ``-n 2`` run list the same cases alike.

All inserted text is made legal XML (control characters shown as ``\\xNN``, ANSI codes
dropped, undecodable bytes as U+FFFD) and long messages are cut in attributes (the element
text keeps them whole).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from pytest_deploycheck.checklist.status import ItemStatus
from pytest_deploycheck.decision import Result
from pytest_deploycheck.outcomes import Outcome
from pytest_deploycheck.redact import Redactor
from pytest_deploycheck.reports.common import clean_text, reporting_errors, result_keys, show_value, truncate, write_atomic
from pytest_deploycheck.reports.summary import RunSummary

#: Properties the plugin core attaches to every check's report (``user_properties``).
OWN_PROPERTIES = ("check_id", "title", "section", "severity", "target", "target_kind", "outcome", "nodeid",
                  "waiver", "waiver_approver", "waiver_expires", "attested_by", "attested_on", "attestation_expires")
MESSAGE_LIMIT = 2000  # a message attribute is a one-line title in CI servers
TEXT_LIMIT = 10_000  # per value in the appended block; pytest's own text before it is kept whole
NOT_RUN_TYPE = "deploycheck.not_run"


def family(config: pytest.Config) -> str:
    """The JUnit family pytest writes: ``legacy`` is pytest's alias of ``xunit1``."""
    value = str(config.getini("junit_family") or "xunit2")
    return "xunit1" if value == "legacy" else value


def pytest_address(nodeid: str, prefix: str | None = None) -> tuple[str, str]:
    """The (classname, name) pytest's junitxml gives a node id (its ``mangle_test_address``)."""
    path, bracket, params = nodeid.partition("[")
    names = path.split("::")
    names[0] = re.sub(r"\.py$", "", names[0].replace("/", "."))
    names[-1] += bracket + params
    classes = names[:-1]
    if prefix:
        classes.insert(0, prefix)
    return ".".join(classes), names[-1]


def case_name(result: Result, key: str) -> tuple[str, str]:
    """``(classname, name)`` of a check's test case: id, title, target, severity in plain sight."""
    check = result.check
    where = key.split("@", 1)[1] if "@" in key else (result.target or "-")
    if check is None:
        return "deploycheck", f"{result.check_id} [{where}]"
    title = " ".join(check.title.split())
    return f"{check.section}.{check.id}", f"{check.id} {title} [{where}] ({check.severity.value})"


def case_properties(result: Result) -> list[tuple[str, str]]:
    check = result.check
    props = [("check_id", result.check_id), ("title", check.title if check else ""), ("section", check.section if check else ""),
             ("severity", result.severity.value), ("target", result.target or "-"), ("target_kind", result.target_kind or "-"),
             ("outcome", result.outcome.value), ("nodeid", result.nodeid)]
    if result.waiver:
        props += [("waiver", str(result.waiver.get("id", "?"))), ("waiver_approver", str(result.waiver.get("approver", ""))),
                  ("waiver_expires", str(result.waiver.get("expires", "")))]
    if result.attestation and result.outcome is Outcome.PASSED:
        props += [("attested_by", str(result.attestation.get("by", ""))), ("attested_on", str(result.attestation.get("date", ""))),
                  ("attestation_expires", str(result.attestation.get("expires") or ""))]
    return props


def evidence_block(result: Result) -> str:
    """The text appended to a failure/error/skipped element: what was checked, where, what was seen."""
    check = result.check
    lines = ["", "--- deploycheck ---",
             f"check: {result.check_id} {check.title if check else ''}".rstrip(),
             f"severity: {result.severity.value}" + (f"; section: {check.section_title}" if check else ""),
             f"target: {result.target or '-'}" + (f" ({result.target_kind})" if result.target_kind else ""),
             f"outcome: {result.outcome.value}"]
    if result.message:
        lines.append(f"message: {truncate(result.message, TEXT_LIMIT)}")
    for key, value in (result.evidence or {}).items():
        lines.append(f"evidence {key}: {truncate(show_value(value), TEXT_LIMIT)}")
    if result.waiver:
        w = result.waiver
        lines.append(f"waiver: {w.get('id', '?')} approved by {w.get('approver', '?')} until {w.get('expires', '?')}: "
                     f"{w.get('justification', '')}")
    lines.append(f"test: {result.nodeid}")
    return "\n".join(lines) + "\n"


class JunitRewriter:
    """Registered on the controller when ``--junitxml`` is given (see ``reports.register``)."""

    DEPLOYCHECK_WRITER = True  # called again on its own if another summary hook raised (summary.write_reports_again)

    def __init__(self, path: Path, junit_family: str, prefix: str | None = None, redactor: Redactor | None = None) -> None:
        self.path = path
        self.family = junit_family
        self.prefix = prefix
        self.redactor = redactor
        self.summary: RunSummary | None = None

    @pytest.hookimpl(trylast=True)
    def pytest_deploycheck_summary(self, config: pytest.Config, summary: RunSummary) -> None:
        self.summary = summary

    @pytest.hookimpl(trylast=True)  # after pytest's junitxml wrote the file
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.summary is None or not self.path.is_file():
            return
        with reporting_errors(session.config, "JUnit XML", self.path):
            write_atomic(self.path, self.rewrite(self.path.read_text(encoding="utf-8"), self.summary))

    # -- the rewrite --------------------------------------------------------------------

    def safe(self, text: object) -> str:
        value = clean_text(str(text))
        return self.redactor.redact(value) if self.redactor is not None else value

    def rewrite(self, xml_text: str, summary: RunSummary) -> str:
        root = ET.fromstring(xml_text)
        suite = root if root.tag == "testsuite" else root.find("testsuite")
        if suite is None:
            return xml_text
        results = summary.results
        keys = result_keys(results)
        index = {pytest_address(r.nodeid, self.prefix): i for i, r in enumerate(results)}
        cases = list(suite.iter("testcase"))
        for case in cases:
            if case.get("name") is None and len(case) == 0:
                # pytest's junitxml leaves a bare <testcase time=".."/> for an item whose setup
                # passed but which never finished (an interrupted run); it is invalid (no name)
                # and the item is added below as not run.
                suite.remove(case)
        cases = [case for case in cases if case.get("name") is not None or len(case)]
        seen: set[int] = set()
        order: list[tuple[tuple[int, int, int], ET.Element]] = []
        listed = summary.checklist.items if summary.checklist is not None else []
        checklist_index = {pytest_address(item.nodeid, self.prefix): n for n, item in enumerate(listed) if item.nodeid}
        for position, case in enumerate(cases):
            address = (case.get("classname", ""), case.get("name", ""))
            if address in checklist_index:  # one test case per item of the team's checklist, first, in file order
                n = checklist_index[address]
                self._rewrite_checklist_case(case, listed[n])
                order.append(((-1, n, position), case))
                continue
            i = index.get(address)
            if i is None:
                order.append(((1, 0, position), case))
                continue
            seen.add(i)
            self._rewrite_case(case, results[i], keys[i])
            order.append(((0, i, position), case))
        added = 0
        for i, r in enumerate(results):
            if i in seen or r.outcome is not Outcome.NOT_RUN:
                continue
            order.append(((0, i, 0), self._not_run_case(r, keys[i])))
            added += 1
        for case in cases:
            suite.remove(case)
        for _, case in sorted(order, key=lambda pair: pair[0]):
            suite.append(case)
        final = list(suite.iter("testcase"))
        suite.set("tests", str(len(final)))
        for tag, attribute in (("failure", "failures"), ("error", "errors"), ("skipped", "skipped")):
            suite.set(attribute, str(sum(1 for case in final if case.find(tag) is not None)))
        self._suite_properties(suite, summary)
        text = '<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(root, encoding="unicode")
        return self.redactor.redact(text) if self.redactor is not None else text

    def _rewrite_case(self, case: ET.Element, result: Result, key: str) -> None:
        classname, name = case_name(result, key)
        if self.prefix:
            classname = f"{self.prefix}.{classname}"
        case.set("classname", self.safe(classname))
        case.set("name", self.safe(name))
        props = case.find("properties")
        if props is not None:
            for prop in list(props):
                if prop.get("name") in OWN_PROPERTIES:
                    props.remove(prop)
        if self.family == "xunit1":
            if props is None:
                props = ET.Element("properties")
                case.insert(0, props)
            for pname, value in case_properties(result):
                props.append(ET.Element("property", name=pname, value=self.safe(value)))
        elif props is not None and len(props) == 0:
            case.remove(props)
        for element in case:
            if element.tag not in ("failure", "error", "skipped"):
                continue
            if element.tag == "failure" and result.outcome is Outcome.ERROR:
                # pytest writes a check that could not look (TargetError in its call) as a failure;
                # docs/REPORTS.md promises <error>, and CI servers count the two apart.
                element.tag = "error"
                element.set("type", "deploycheck.error")
            message = result.message or element.get("message", "")
            if element.tag == "skipped":
                message = f"{result.outcome.value}: {message}"
                element.set("type", f"deploycheck.{result.outcome.name.lower()}")
            element.set("message", self.safe(truncate(" ".join(message.split()), MESSAGE_LIMIT)))
            element.text = (element.text or "") + self.safe(evidence_block(result))

    def _rewrite_checklist_case(self, case: ET.Element, item: ItemStatus) -> None:
        """classname: the item's section; name: its text; the outcome from its checks over every target."""
        section = ".".join(part.replace(".", " ") for part in item.section) or "checklist"
        case.set("classname", self.safe(f"{self.prefix}.{section}" if self.prefix else section))
        case.set("name", self.safe(item.text))
        for element in list(case):
            if element.tag in ("failure", "error", "skipped", "properties"):
                case.remove(element)
        if item.status == "passed":
            return
        tag = {"failed": "failure", "error": "error"}.get(item.status, "skipped")
        pairs = item.problems or item.results
        lines = [f"{r.check_id} on {r.target or '-'}: {r.outcome.value}: {r.message}" for r in pairs[:50]]
        entry = item.entry
        head = [f"item: {item.text} ({item.source}:{item.line})", f"status: {item.status}",
                f"severity: {entry.severity.value}" if entry else "severity: -",
                f"answered by: {'manual' if entry and entry.manual else ', '.join(entry.checks) if entry else '-'}"
                + (f"; the rest attested: {entry.attest}" if entry and entry.attest and not entry.manual else "")
                + (f" ({entry.matched_by})" if entry else "")]
        element = ET.SubElement(case, tag, message=self.safe(truncate(" ".join(f"{item.status}: {item.reason}".split()), MESSAGE_LIMIT)))
        if tag == "skipped":
            element.set("type", f"deploycheck.checklist.{item.status.replace(' ', '_').replace('/', '')}")
        element.text = self.safe("\n".join(["", "--- deploycheck checklist ---", *head, *lines]) + "\n")

    def _not_run_case(self, result: Result, key: str) -> ET.Element:
        classname, name = case_name(result, key)
        if self.prefix:
            classname = f"{self.prefix}.{classname}"
        case = ET.Element("testcase", classname=self.safe(classname), name=self.safe(name), time="0.000")
        if self.family == "xunit1":
            props = ET.SubElement(case, "properties")
            for pname, value in case_properties(result):
                props.append(ET.Element("property", name=pname, value=self.safe(value)))
        skipped = ET.SubElement(case, "skipped", type=NOT_RUN_TYPE, message=self.safe(f"not run: {result.message}"))
        skipped.text = self.safe(evidence_block(result))
        return case

    def _suite_properties(self, suite: ET.Element, summary: RunSummary) -> None:
        props = suite.find("properties")
        if props is None:
            props = ET.Element("properties")
            suite.insert(0, props)
        counts = ", ".join(f"{n} {o.value}" for o, n in summary.counts().items() if n)
        values: list[tuple[str, Any]] = [
            ("deploycheck.verdict", summary.verdict.level.value), ("deploycheck.rule", summary.verdict.rule),
            ("deploycheck.counts", counts), ("deploycheck.interrupted", str(summary.interrupted).lower()),
            ("deploycheck.inventory", summary.inventory_name or ""), ("deploycheck.inventory_sha256", summary.inventory_sha256 or ""),
            ("deploycheck.catalog_digest", summary.catalog_digest), ("deploycheck.version", summary.plugin_version),
            ("deploycheck.junit_family", self.family),
            ("deploycheck.partial", str(summary.partial).lower()), ("deploycheck.selected", str(summary.scope.selected)),
            ("deploycheck.deselected", str(summary.scope.deselected)),
        ]
        if summary.partial:
            values.append(("deploycheck.scope", summary.scope.describe()))
        values += [("deploycheck.root_cause", cause.label) for cause in summary.root_causes()]
        values += [("deploycheck.incident", incident) for incident in summary.incidents]
        for name, value in values:
            props.append(ET.Element("property", name=name, value=self.safe(value)))
