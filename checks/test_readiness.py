"""Team readiness and communication: the people who will run, support and announce the release.

People attest these.  The escalation path is also verified in the deployed repository named by a
``files`` target: an ESCALATION.md / CONTACTS.md / ONCALL.md file or a runbook section on it.
"""

from __future__ import annotations

import re

import pytest

from pytest_deploycheck.governance.documents import require_document

pytestmark = pytest.mark.section("team", "Team readiness and communication")

SRE_ON_CALL = "Google SRE book, ch. 11: being on-call"


@pytest.mark.check("team-01", "On-call rota staffed for the launch window", severity="high", refs=(SRE_ON_CALL,),
                   answers=("oncall rota|schedule|roster|rotation|staffed|setup|cover|ready|plan|engineer|assigned?", "oncall",
                            "oncall launch|golive|cutover|window|release|weekend|shift",
                            "pager|paging rota|rotation|schedule"),
                   answers_kind="attest", answers_unless=("runbook", "playbook"),  # the on-call's reading matter is doc-01's
                   answers_accepts=("alert",))  # "Alertmanager routes to PagerDuty, on-call rota set" asks for people too
@pytest.mark.manual(instructions="Show the rota covering launch day and the following two weeks, with a primary and "
                                 "a secondary who have access to production and know the runbook.")
def test_on_call():
    """A launch without someone on call means the first incident waits until somebody notices.
    A person attests that the rota covers the launch window, with a primary and a secondary who
    have production access."""


@pytest.mark.check("team-02", "Escalation path and emergency contacts documented", severity="high", refs=(SRE_ON_CALL,),
                   answers=("escalation", "escalation path|paths|policy|procedure|procedures|matrix|chain defined|documented|agreed|clear|set|known",
                            "contact|contacts emergency? document|list|updat|inform|current? admin|team|vendor|owner|support|key?",
                            "emergency contact"),
                   answers_kind="document")
@pytest.mark.manual(instructions="Call or page each contact in the escalation list (on-call, database admin, security, "
                                 "infrastructure, vendors) to confirm they are current; attest with the date of the check.")
def test_escalation(files, evidence):
    """When the on-call engineer is stuck they must know whom to wake next: database admin,
    security, infrastructure, vendors.  Passes when the repository documents the escalation path
    (ESCALATION.md, CONTACTS.md, ONCALL.md, or a runbook section on escalation or contacts) and a
    person attests the contacts are current."""
    require_document(files, evidence, ("ESCALATION.md", "CONTACTS.md", "ONCALL.md", "ON_CALL.md"),
                     re.compile(r"escalat|contact|on[- ]?call", re.I), "escalation path")


@pytest.mark.check("team-03", "Support team briefed on the release", severity="medium",
                   answers=("support_team|support brief|ready|train|informed|inform|aware|prepar|notif|updat?",
                            "helpdesk|service_desk brief|ready|train"),
                   answers_kind="attest")
@pytest.mark.manual(instructions="Brief the support team on what changes for users, known issues and where to route "
                                 "problems; attest with the briefing's date and notes.")
def test_support_briefed():
    """Users call support first.  A support team that does not know what changed answers
    wrongly and escalates late.  A person attests that support was briefed on the changes, the
    known issues and the escalation route."""


@pytest.mark.check("team-04", "Operations team trained on the new system", severity="medium",
                   answers=("team|operations|staff|engineer|operators train|trained|training|onboard|rehears|walkthrough|knowledge operations?",
                            "knowledge transfer|handover|hand_off"),
                   answers_kind="attest")
@pytest.mark.manual(instructions="Walk the operators through deploy, rollback, restore and the main alerts on staging; "
                                 "attest with the session's date and attendees.")
def test_operations_trained():
    """The runbook helps only people who have seen the system.  A person attests that the
    operators rehearsed deploy, rollback, restore and the main alerts on staging."""


@pytest.mark.check("team-05", "Launch communicated to customers and stakeholders", severity="medium",
                   answers=("launch|release|customer|stakeholder|user|maintenance_window communicat|announc|notif|inform|email|sent",
                            "communication sent|plan", "customer|user|stakeholder notif|inform|announc"),
                   answers_kind="attest",
                   answers_accepts=("alert",))
@pytest.mark.manual(instructions="Follow the communication plan: launch date, maintenance window and expected impact "
                                 "sent to customers and internal stakeholders; attest with the message or its link.")
def test_launch_communicated():
    """Customers and colleagues surprised by a change or a maintenance window lose trust and
    flood support.  A person attests that the launch date, window and impact were communicated
    as the communication plan says."""


@pytest.mark.check("team-06", "Incident communication channel and status page ready", severity="low",
                   answers=("status_page|statuspage", "incident channel|room|bridge|slack|war", "war room"),
                   answers_kind="attest")
@pytest.mark.manual(instructions="Confirm the incident channel exists and the status page can be updated by the "
                                 "on-call engineer; attest with their links.")
def test_status_page():
    """During an incident, users need one place to learn what is happening, and responders one
    place to coordinate.  A person attests the status page and the incident channel are ready."""
