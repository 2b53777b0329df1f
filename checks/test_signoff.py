"""Final sign-offs and the go/no-go meeting: the people accountable for the release approve it.

Each approval is a manual item attested by the approver (or recorded on their behalf with a link
to the approval: ticket, pull-request review, meeting minutes).  They run once per run, on no
target.  Approvals hold for one release: give them a short validity (``valid_for: 14d``).
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.section("signoff", "Final sign-offs")

CHANGE_APPROVAL = "ISO/IEC 27001:2022 A.8.32: change management"


@pytest.mark.check("signoff-01", "Development lead approval", severity="high", refs=(CHANGE_APPROVAL,),
                   answers=("development|engineering|dev|tech|technical|software lead|team|manager|head?", "cto|vp engineering",
                            "code review|tech_lead", "qa|quality|test lead|team|manager|assurance?"),
                   answers_kind="approval")
@pytest.mark.manual(instructions="The development lead confirms the release is complete, reviewed and tested; attest "
                                 "with the approval's link.")
def test_development_lead():
    """The development lead answers for what is in the release: every change reviewed, the test
    suite green, no known critical bug.  Their approval is recorded with a link to it."""


@pytest.mark.check("signoff-02", "Operations / SRE approval", severity="high", refs=(CHANGE_APPROVAL,),
                   answers=("operations|infrastructure|platform|reliability|sysadmin lead|team|manager|engineer?", "site reliability"),
                   answers_kind="approval")
@pytest.mark.manual(instructions="The operations or SRE lead confirms monitoring, alerting, capacity, rollback and "
                                 "on-call are ready; attest with the approval's link.")
def test_operations():
    """Operations will run the release: they approve that monitoring, alerting, capacity and the
    rollback are ready and that someone is on call."""


@pytest.mark.check("signoff-03", "Security team approval", severity="high", refs=(CHANGE_APPROVAL,),
                   answers=("pen|penetration test|testing report|findings? accept|accepted|approv|signed ciso|security|infosec?", "accept|accepted|approv|signed ciso|security|infosec", "security|infosec|ciso|appsec team|lead|officer|review?",),
                   answers_kind="approval")
@pytest.mark.manual(instructions="The security team confirms the security review (threat model, dependency and "
                                 "penetration test findings) raised nothing open that blocks; attest with the review.")
def test_security():
    """A release that changes authentication, exposure or data handling needs the security
    team's review; their approval records that no open finding blocks it."""


@pytest.mark.check("signoff-04", "Product owner approval", severity="high", refs=(CHANGE_APPROVAL,),
                   answers=("product_owner|product_manager|product", "business stakeholder|owner|sponsor|lead|stakeholders?",
                            "stakeholder"),
                   answers_kind="approval")
@pytest.mark.manual(instructions="The product owner accepts the release (acceptance testing done, launch timing "
                                 "agreed); attest with the approval's link.")
def test_product_owner():
    """The product owner accepts the release for its users: acceptance testing passed, the
    launch date suits the business, the communication is planned."""


@pytest.mark.check("signoff-05", "Go/no-go meeting held and the decision recorded", severity="high", refs=(CHANGE_APPROVAL,),
                   answers=("go|launch|release|golive decision recorded|made|taken|documented|logged|minuted|minutes", "final|launch|release|golive? approval", "go_no_go|gonogo meeting|decision|review|call?", "launch|release decision|meeting|readiness review",
                            "cab|change_advisory_board approval?"),
                   answers_kind="approval")
@pytest.mark.manual(instructions="Hold the go/no-go meeting on this run's report; record the decision, the attendees "
                                 "and the accepted risks in the minutes; attest with their link.")
def test_go_no_go_meeting():
    """The final decision is taken by people, on evidence: this report, the open risks and the
    waivers.  The item records that the meeting was held and the decision written down, so the
    release can be traced to who decided it and why."""
