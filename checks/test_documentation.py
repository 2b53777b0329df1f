"""Documentation and runbooks: what the people on call will read when the service misbehaves.

Every item here is attested by a person (someone read the runbook and would act on it); where a
``files`` target names the deployed repository, the plugin also verifies that the document is
there and says something: a dedicated file (``RUNBOOK.md``, ``INCIDENT_RESPONSE.md``, ...) at
the top or under ``docs/``, or a section of the runbook whose heading names the topic.
Items that live outside the repository (architecture, service levels) are attested only.
"""

from __future__ import annotations

import re

import pytest

from pytest_deploycheck.governance.documents import require_document

pytestmark = pytest.mark.section("doc", "Documentation and runbooks")


@pytest.mark.check("doc-01", "Operations runbook exists and was reviewed", severity="high",
                   refs=("Google SRE book, ch. 27 and appendix E: launch coordination checklist",),
                   answers=("runbook manual|handbook|wiki|confluence|repository|repo|portal", "runbook operations? guide?", "operations|operational|ops guide|manual|handbook",
                            "runbook reviewed|updated|approved|read by? oncall|team|ops?",
                            "runbook failure|failures|incident|incidents|alert|alerts|scenario|scenarios|mode|modes|outage|outages common|primary|known|main?"),
                   answers_kind="document")
@pytest.mark.manual(instructions="Have the engineer who will be on call read RUNBOOK.md end to end: start, stop, deploy, "
                                 "health checks, logs, dashboards, common alerts. Attest with the review's ticket or PR.")
def test_runbook(files, evidence):
    """The runbook is what an on-call engineer opens at 3 a.m.: how to start, stop and deploy the
    service, where its logs and dashboards are, what each alert means.  Passes when the
    repository holds a runbook (RUNBOOK.md or OPERATIONS.md) with text in it and a person attests
    that it was reviewed; fails when there is none."""
    require_document(files, evidence, ("RUNBOOK.md", "OPERATIONS.md", "runbook.rst", "RUNBOOK.txt"), None, "runbook")


@pytest.mark.check("doc-02", "Incident response procedure documented", severity="high",
                   refs=("Google SRE book, ch. 14: managing incidents",
                         "ISO/IEC 27001:2022 A.5.24: incident management planning and preparation"),
                   answers=("incident_response procedure|plan|process|playbook? security?",
                            "incident procedure|plan|playbook|process|severity|classification"),
                   answers_kind="document",
                   answers_unless=("incident channel|room|bridge",))
@pytest.mark.manual(instructions="Check that the procedure names who declares an incident, who leads it, where it is "
                                 "coordinated and how it is closed (post-mortem); attest with a link to the reviewed text.")
def test_incident_response(files, evidence):
    """When production breaks, people must know who leads, where to talk and how to decide
    without improvising.  Passes when an incident procedure exists (INCIDENT_RESPONSE.md,
    INCIDENTS.md, or a runbook section on incidents) and a person attests it is current."""
    require_document(files, evidence, ("INCIDENT_RESPONSE.md", "INCIDENT-RESPONSE.md", "INCIDENTS.md"),
                     re.compile(r"incident", re.I), "incident response procedure")


@pytest.mark.check("doc-03", "Troubleshooting guide covers common failures", severity="medium",
                   answers=("troubleshoot guide|scenario|common?", "common|known issue|problem|failure|error|scenario guide|runbook|playbook|fix|workaround|resolution|troubleshoot|document|doc"),
                   answers_kind="document",
                   answers_unless=("release_notes",))
@pytest.mark.manual(instructions="Check that the guide covers the failures seen in staging and load tests (database "
                                 "unreachable, queue backlog, full disk, expired certificate) with the fix for each.")
def test_troubleshooting(files, evidence):
    """A list of known failure modes and their fixes shortens every outage.  Passes when a
    troubleshooting guide exists (TROUBLESHOOTING.md or a runbook section on troubleshooting or
    common issues) and a person attests it covers what staging revealed."""
    require_document(files, evidence, ("TROUBLESHOOTING.md",), re.compile(r"troubleshoot|common (issues|problems|failures)", re.I),
                     "troubleshooting guide")


@pytest.mark.check("doc-04", "Architecture, API and deployment documentation current", severity="medium",
                   answers=("architecture diagram|document|doc|overview|description",
                            "api documentation|doc|docs|reference|swagger|openapi|spec",
                            "deployment|install|setup guide|documentation|doc|docs|instructions|manual",
                            "system documentation|docs diagram?"),
                   answers_kind="document",
                   answers_unless=("checklist",))
@pytest.mark.manual(instructions="Confirm the architecture diagram, API reference and deployment guide match this "
                                 "release; attest with the links you checked.")
def test_documentation_current():
    """Whoever changes or debugs the system next relies on the architecture diagram, the API
    reference and the deployment guide; stale ones mislead.  A person attests they match this
    release."""


@pytest.mark.check("doc-05", "Service levels (SLA/SLO) defined", severity="low",
                   refs=("Google SRE book, ch. 4: service level objectives",),
                   answers=("sla|slo|sli", "service level target|objective|indicator",
                            "availability|uptime|latency objective|target define|agreed"),
                   answers_kind="document")
@pytest.mark.manual(instructions="Attest with the document that defines the availability and latency objectives "
                                 "(and the SLA, if one is sold) and where they are measured.")
def test_service_levels():
    """Without an objective nobody can say whether the service is healthy enough, or whether an
    alert matters.  A person attests that availability and latency objectives are written down
    and measured."""
