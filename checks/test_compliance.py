"""Compliance and legal: personal data (GDPR), published policies, licences.

Almost everything here is a judgement only the people responsible can make and sign: the data
protection review, the retention policy, the licence review.  The one part a machine can see is
whether the deployed repository ships the third-party notices its licences require.
"""

from __future__ import annotations

import pytest

from pytest_deploycheck.governance.documents import require_document

pytestmark = pytest.mark.section("legal", "Compliance and legal")


@pytest.mark.check("legal-01", "Personal-data processing reviewed (GDPR)", severity="high",
                   refs=("GDPR Art. 30: records of processing activities", "GDPR Art. 35: data protection impact assessment"),
                   answers=("gdpr|ccpa compliance|review|assessment|dpia?",
                            "personal_data review|processing|assessment|inventory|protection", "dpia",
                            "data protection impact|review|compliance|assessment|officer"),
                   answers_kind="attest")
@pytest.mark.manual(instructions="The data protection officer (or whoever holds that role) confirms the processing is "
                                 "in the record of processing activities, a DPIA was done where required, and processors "
                                 "have agreements; attest with the review's reference. No personal data: attest that.")
def test_gdpr_review():
    """Processing personal data without a recorded legal basis, a DPIA where the risk calls for
    one, or agreements with processors is a legal exposure that no technical check reveals.  A
    person responsible for data protection attests the review of this release."""


@pytest.mark.check("legal-02", "Data retention policy documented and applied", severity="medium",
                   refs=("GDPR Art. 5(1)(e): storage limitation",),
                   answers=("data|log|backup|record|personal_data retention polic|period|rule|define|document|enforc|purge?",
                            "retention polic|period|schedule", "^backup|log|data retention day|days|month|year|week?",
                            "purge job|old data"),
                   answers_kind="document",
                   answers_unless=("prometheus", "metric"))
@pytest.mark.manual(instructions="Point to the retention policy (what is kept, how long, how it is deleted) and to the "
                                 "job or setting that enforces it: log retention, backup retention, purges.")
def test_retention_policy():
    """Data kept longer than needed is both a breach waiting to happen and, for personal data, a
    GDPR violation.  A person attests that retention periods are written down and enforced by the
    system (log and backup retention, purge jobs)."""


@pytest.mark.check("legal-03", "Data-subject requests can be served (export, deletion)", severity="medium",
                   refs=("GDPR Art. 15: right of access", "GDPR Art. 17: right to erasure", "GDPR Art. 20: data portability"),
                   answers=("data_export|data_deletion capability?",
                            "personal_data export|deletion|delet|erasure|download|portability capability?", "data_subject request|right",
                            "right to erasure|access|be forgotten", "account deletion"),
                   answers_kind="attest")
@pytest.mark.manual(instructions="Show an export and a deletion of a test user's data end to end, including copies "
                                 "in search indexes, caches and analytics; attest with the ticket.")
def test_data_subject_requests():
    """Users may ask for their data or its deletion, and the answer is due within a month.
    A person attests that export and deletion work end to end, copies in other stores included."""


@pytest.mark.check("legal-04", "Privacy policy and terms of service published and current", severity="medium",
                   refs=("GDPR Art. 13: information to be provided",),
                   answers=("privacy_policy", "tos|terms", "cookie banner|consent|notice", "privacy_policy|terms|tos page|pages|link|links"),
                   answers_kind="attest")
@pytest.mark.manual(instructions="Check that the published privacy policy and terms describe what this release "
                                 "collects and does; attest with their URLs and the legal review.")
def test_policies_published():
    """A new feature that collects new data, or a new processor, must appear in the privacy
    policy before it goes live.  A person attests that the published texts match this release."""


@pytest.mark.check("legal-05", "Dependency licences reviewed and compatible", severity="medium",
                   answers=("license|licensing review|compatib|compliance|audit|check|scan|approv|honor|obligation dependency? opensource? third_party?",
                            "dependency|third_party|open_source license"),
                   answers_kind="attest")
@pytest.mark.manual(instructions="Review the licences of the release's dependencies (an SBOM or a licence scanner's "
                                 "report) against how the product is distributed; attest with the report.")
def test_licence_review():
    """A copyleft or non-commercial licence in a dependency can make shipping the product a
    licence violation.  A person attests that the dependency licences were reviewed against how
    the product is distributed."""


@pytest.mark.check("legal-06", "Third-party notices shipped", severity="low",
                   answers=("third_party notice|attribution|credit", "attribution notice?", "notice|notices file",
                            "third_party attribution"),
                   answers_kind="document")
def test_third_party_notices(files, evidence):
    """Most open source licences (MIT, BSD, Apache-2.0) require their notices to travel with the
    software.  Passes when the deployed repository holds a notices file (THIRD_PARTY_NOTICES,
    NOTICE, ATTRIBUTIONS or CREDITS) with text in it; fails when there is none."""
    require_document(files, evidence, ("THIRD_PARTY_NOTICES", "THIRD_PARTY_NOTICES.md", "THIRD_PARTY_NOTICES.txt",
                                       "THIRD-PARTY-NOTICES.txt", "THIRD_PARTY_LICENSES", "NOTICE", "NOTICE.md", "NOTICE.txt",
                                       "ATTRIBUTIONS.md", "CREDITS.md"), None, "third-party notices file")
