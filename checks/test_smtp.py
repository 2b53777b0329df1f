"""Outgoing mail: every ``smtp`` target, the server the application hands its mail to.

The checks speak SMTP to it as a client would: what it offers before TLS, whether the
application's login works (over verified TLS only), and, as an active probe, whether it would
carry a stranger's message to a stranger.  Nothing is ever submitted: no check sends DATA.  The
certificate and protocol checks of ``test_tls.py`` run on every ``smtp`` target too (after
STARTTLS for ``smtp://``).
"""

from __future__ import annotations

import pytest

from pytest_deploycheck import Evidence, require
from pytest_deploycheck.targets.smtp import RELAY_FROM, RELAY_TO, SmtpTarget

pytestmark = pytest.mark.section("smtp", "Outgoing mail")


@pytest.mark.check("smtp-01", "Mail server offers TLS before any login", severity="high",
                   refs=("RFC 3207: SMTP STARTTLS", "RFC 4954 4: AUTH only over a protected channel", "RFC 8314: implicit TLS for submission"),
                   answers=("smtp|mail|email tls|starttls|encrypt|encrypted|encryption|secure|secured",
                            "starttls enabl|required|offered|configur|support?",
                            "smtp|mail|email server|relay|connection require|requires|enforce|use tls|starttls|encryption",
                            "mailer|mail|email deliver|delivers|send|sending smtp tls|starttls"),
                   answers_unless=("dkim", "spf", "dmarc", "mta_sts|mtasts", "dane", "inbound|incoming|receiving"))
def test_tls_before_login(smtp_server: SmtpTarget, evidence: Evidence) -> None:
    """Mail submission carries the account's password and every message the application sends:
    over plain text, anyone on the path reads both.  Passes for ``smtps://`` (TLS from the first
    byte) and for an ``smtp://`` server whose EHLO offers STARTTLS and offers AUTH only after it.
    A server that offers AUTH before STARTTLS lets a misconfigured client send its password in
    clear text; one with no STARTTLS leaves the client nothing else."""
    greeting = smtp_server.greeting()
    extensions = sorted(greeting.extensions)
    evidence.record(implicit_tls=greeting.implicit_tls, extensions_before_tls=extensions,
                    auth_before_tls=greeting.extensions.get("AUTH"))
    if greeting.implicit_tls:
        return
    problems = []
    if "STARTTLS" not in greeting.extensions:
        problems.append(f"EHLO offers no STARTTLS (extensions: {', '.join(extensions) or 'none'})")
    if "AUTH" in greeting.extensions:
        problems.append(f"AUTH {greeting.extensions['AUTH']} is offered before TLS (a password can go in clear text)")
    require(not problems, smtp_server, "; ".join(problems), "STARTTLS offered, and AUTH only after it (or smtps://)")


@pytest.mark.check("smtp-02", "Mail login accepted", severity="high",
                   refs=("RFC 4954: SMTP AUTH", "RFC 6409: message submission"),
                   answers=("mail|email driver|transport|mailer smtp|sendgrid|postmark|mailgun|ses", "email|emails|mail sent|send|sending|deliver|delivered smtp|sendgrid|mailgun|postmark|ses|relay", "form|app|application|site|contact send|sends|sending email|mail|emails", "smtp credential|credentials|password|login|auth|authentication|account work|valid|configur|set|correct?",
                            "smtp configur|set|setting|settings|connect|connection|setup",
                            "email|mail sending|send|outgoing|outbound|transactional configur|set|setting|settings|credentials|provider|service",
                            "mail|email server|relay|provider|service credential|credentials|login|password|connect|connection|configur",
                            "smtp server|relay|host reachable|working|up|available"),
                   answers_unless=("dkim", "spf", "dmarc", "domain verif|verified|verification|identity", "bounce|bounces", "spam", "template|templates", "inbound|incoming|receiving",
                                   "alert|alerts|notification|notifications"))
def test_login_accepted(smtp_server: SmtpTarget, evidence: Evidence) -> None:
    """The application's mail (password resets, receipts, alerts) stops at the first message if
    its SMTP login is wrong, expired or revoked: the mail provider rotated the key, the account was
    locked, the variable holds the staging password.  Logs in with ``username`` and ``password``
    over TLS whose certificate verifies (credentials are never sent otherwise), once per run, and
    passes on 235.  The conversation ends there: nothing is sent."""
    reply = smtp_server.login()
    evidence.record(username=smtp_server.setting("username"), reply=reply.text)
    require(reply.code == 235, smtp_server, f"login as {smtp_server.setting('username')} answered {reply.text}",
            "235 (authentication succeeded)")


@pytest.mark.check("smtp-03", "Mail server refuses to relay for strangers", severity="critical",
                   refs=("RFC 5321 3.6.2: mail relays", "RFC 2505: anti-spam recommendations for SMTP MTAs", "CIS Controls 9: email protections"),
                   answers=("open relay", "relay restrict|restricted|disabl|closed|authenticated|authorized|denied|protected|lock",
                            "smtp|mail|email relay auth|authenticated|only|restrict|require",
                            "not|no open relay|relays"))
@pytest.mark.active_probe
def test_not_open_relay(smtp_server: SmtpTarget, evidence: Evidence) -> None:
    """An open relay carries anyone's spam under the domain's name: within hours its address is on
    every blocklist and the application's own mail stops arriving.  Active probe: without logging
    in, offers a message from ``deploycheck-probe@example.com`` to ``deploycheck-probe@example.net``
    (documentation domains no server delivers to) and stops after RCPT TO, before DATA.  Passes
    when MAIL FROM or RCPT TO is refused."""
    answer = smtp_server.relay_probe()
    evidence.record(mail_from=answer.mail, rcpt_to=answer.rcpt, accepted=answer.accepted)
    require(not answer.accepted, smtp_server,
            f"accepted RCPT TO:<{RELAY_TO}> from <{RELAY_FROM}> without a login ({answer.rcpt}): it relays for anyone",
            "a refusal (5xx relay access denied) unless the client has logged in")
