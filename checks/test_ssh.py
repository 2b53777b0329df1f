"""SSH server: the effective configuration of every ``hosts`` target's sshd.

Read from ``sshd -T`` for the sshd that the check's own SSH connection reached (its listener's
``-f`` file and ``-o`` overrides, ``Match`` blocks evaluated for this connection), or for the
system sshd on ``local://`` and other backends; the inventory's ``sshd_config`` names another
file.  ``sshd -T`` needs root: without it the files are read and the evidence says so (see
``pytest_deploycheck/sshdconfig.py``).  A host without sshd: every check here is not applicable.

Why key-only: passwords are guessed, phished and reused; an sshd that accepts them on the
internet is brute-forced around the clock.  Weak algorithms let a network attacker recover
plaintext (CBC, RC4, 3DES) or forge the key exchange (SHA-1, 1024-bit groups).
"""

from __future__ import annotations

import pytest

from pytest_deploycheck import read_ahead, require
from pytest_deploycheck.targets.sshd_config import effective, weak_ciphers, weak_kex, weak_macs

pytestmark = pytest.mark.section("ssh", "SSH server")

KEY_ONLY_ROOT = ("no", "prohibit-password", "without-password", "forced-commands-only")


@pytest.mark.check("ssh-01", "Password login disabled", severity="critical",
                   refs=("dev-sec ssh-baseline: sshd-27", "Mozilla OpenSSH guidelines: PasswordAuthentication no"),
                   answers=("ssh no|disabl|off password|passwords", "key_based|key_only authentication|login|access? ssh?", "ssh password login|authentication disabl|off|no|not",
                            "password_authentication|password_login disabl|off|no ssh?", "ssh harden|hardening|lockdown|lock",
                            "ssh keys only", "ssh log|login|logins password|passwords nobody|no|never|cannot|refused|disabled?",
                            "password log|login|logins ssh"))
@read_ahead(effective)
def test_password_authentication_off(host, evidence):
    """An sshd that accepts passwords can be logged into by whoever guesses, phishes or reuses one;
    internet-facing sshd is brute-forced continuously.  Passes when ``PasswordAuthentication no``;
    fails on ``yes``."""
    sshd = effective(host)
    evidence.record(**sshd.evidence("passwordauthentication"))
    value = sshd.flag("passwordauthentication")
    require(value == "no", host, f"sshd PasswordAuthentication is {value} ({sshd.config})", "no (keys only)")


@pytest.mark.check("ssh-02", "Keyboard-interactive login disabled", severity="high",
                   refs=("dev-sec ssh-baseline: sshd-29",),
                   answers=("keyboard interactive", "challenge response authentication?", "kbdinteractive",
                            "ssh harden|hardening|lockdown"))
@read_ahead(effective)
def test_kbd_interactive_off(host, evidence):
    """Keyboard-interactive authentication is password login by another name (PAM prompts it),
    and it stays on when only PasswordAuthentication is turned off.  Passes when
    ``KbdInteractiveAuthentication`` (formerly ChallengeResponseAuthentication) is ``no``."""
    sshd = effective(host)
    evidence.record(**sshd.evidence("kbdinteractiveauthentication", "usepam"))
    value = sshd.flag("kbdinteractiveauthentication")
    require(value == "no", host, f"sshd KbdInteractiveAuthentication is {value} ({sshd.config})", "no")


@pytest.mark.check("ssh-03", "Root login disabled or key-only", severity="high",
                   refs=("dev-sec ssh-baseline: sshd-06", "CIS Debian Linux 12 5.1.20: Ensure sshd PermitRootLogin is disabled"),
                   answers=("root_login|permitrootlogin disabl|no|off|prohibit|key|forbid|deny?",
                            "ssh root login|access disabl|no|off|key", "ssh harden|hardening|lockdown",
                            "ssh root no|disabl|off|prohibit|forbid|denied|block"))
@read_ahead(effective)
def test_root_login(host, evidence):
    """root is the one account name every attacker knows, and a root login leaves no trace of who
    it was.  Passes when ``PermitRootLogin`` is ``no``, ``prohibit-password`` (keys only) or
    ``forced-commands-only``; fails on ``yes``."""
    sshd = effective(host)
    evidence.record(**sshd.evidence("permitrootlogin"))
    value = sshd.flag("permitrootlogin")
    require(value in KEY_ONLY_ROOT, host, f"sshd PermitRootLogin is {value} ({sshd.config})",
            "no or prohibit-password")


@pytest.mark.check("ssh-04", "Empty passwords refused", severity="high",
                   refs=("dev-sec ssh-baseline: sshd-28", "CIS Debian Linux 12 5.1.19: Ensure sshd PermitEmptyPasswords is disabled"),
                   answers=("empty_password ssh? refus|disabl|no|not?", "ssh harden|hardening|lockdown"))
@read_ahead(effective)
def test_permit_empty_passwords_off(host, evidence):
    """With ``PermitEmptyPasswords yes`` any account without a password is open to everyone who
    can reach the port.  High rather than critical: it only bites where password login is on,
    which ssh-01 already reports as critical.  Passes when ``no``."""
    sshd = effective(host)
    evidence.record(**sshd.evidence("permitemptypasswords"))
    value = sshd.flag("permitemptypasswords")
    require(value == "no", host, f"sshd PermitEmptyPasswords is {value} ({sshd.config})", "no")


@pytest.mark.check("ssh-05", "Public-key login enabled", severity="medium",
                   refs=("dev-sec ssh-baseline: sshd-22",),
                   answers=("key_based|key_only authentication|login|access? ssh?",
                            "ssh public_key|pubkey|key authentication|login|access enabl?", "ssh keys only"))
@read_ahead(effective)
def test_pubkey_authentication_on(host, evidence):
    """Key-only access needs keys to work: with ``PubkeyAuthentication no`` the operators' way in
    is passwords, or nothing.  Not a hole by itself, hence medium.  Passes when ``yes``."""
    sshd = effective(host)
    evidence.record(**sshd.evidence("pubkeyauthentication"))
    value = sshd.flag("pubkeyauthentication")
    require(value == "yes", host, f"sshd PubkeyAuthentication is {value} ({sshd.config})", "yes")


@pytest.mark.check("ssh-06", "No weak ciphers", severity="high",
                   refs=("dev-sec ssh-baseline: sshd-01", "CIS Debian Linux 12 5.1.6: Ensure sshd Ciphers are configured",
                         "Mozilla OpenSSH guidelines: Ciphers"),
                   answers=("ssh cipher|ciphers weak|strong|modern|secure|disabl|cbc|allowed?",
                            "ssh crypto|algorithm weak|strong|modern|hardened", "ssh harden|hardening|lockdown"))
@read_ahead(effective)
def test_no_weak_ciphers(host, evidence):
    """CBC modes allow plaintext recovery, 3DES falls to Sweet32, RC4 is broken; a client that
    offers them can be downgraded to them.  Passes when no offered cipher is CBC, arcfour/RC4,
    3DES, Blowfish, CAST or none."""
    sshd = effective(host)
    offered = sshd.algorithms("ciphers")
    weak = weak_ciphers(offered)
    evidence.record(**sshd.evidence(), ciphers=offered, weak=weak)
    require(not weak, host, f"sshd offers weak ciphers {', '.join(weak)}", "only chacha20-poly1305, AES-GCM or AES-CTR")


@pytest.mark.check("ssh-07", "No weak MACs", severity="medium",
                   refs=("dev-sec ssh-baseline: sshd-03", "CIS Debian Linux 12 5.1.15: Ensure sshd MACs are configured",
                         "Mozilla OpenSSH guidelines: MACs"),
                   answers=("ssh mac|macs weak|strong|modern|sha1|md5?", "ssh crypto|algorithm weak|strong|modern|hardened",
                            "ssh harden|hardening|lockdown"))
@read_ahead(effective)
def test_no_weak_macs(host, evidence):
    """MD5 and SHA-1 MACs and 64-bit or 96-bit tags are below current margins; HMAC-SHA1 is not
    broken in practice, hence medium.  Passes when no offered MAC uses MD5, SHA-1, RIPEMD-160,
    a 96-bit truncation or UMAC-64 (OpenSSH's default list fails: it still offers hmac-sha1 and
    umac-64)."""
    sshd = effective(host)
    offered = sshd.algorithms("macs")
    weak = weak_macs(offered)
    evidence.record(**sshd.evidence(), macs=offered, weak=weak)
    require(not weak, host, f"sshd offers weak MACs {', '.join(weak)}", "only SHA-2 (preferably -etm) or umac-128 MACs")


@pytest.mark.check("ssh-08", "No weak key exchange", severity="high",
                   refs=("dev-sec ssh-baseline: sshd-02", "CIS Debian Linux 12 5.1.12: Ensure sshd KexAlgorithms is configured",
                         "Mozilla OpenSSH guidelines: KexAlgorithms"),
                   answers=("ssh kex|key_exchange weak|strong|modern|group1|sha1?", "ssh crypto|algorithm weak|strong|modern|hardened",
                            "ssh harden|hardening|lockdown"))
@read_ahead(effective)
def test_no_weak_kex(host, evidence):
    """The key exchange protects every session key: SHA-1 exchanges and the 1024-bit group1
    (Logjam) let a well-resourced attacker break recorded sessions.  Passes when no offered
    key exchange uses SHA-1 or diffie-hellman group1."""
    sshd = effective(host)
    offered = sshd.algorithms("kexalgorithms")
    weak = weak_kex(offered)
    evidence.record(**sshd.evidence(), kexalgorithms=offered, weak=weak)
    require(not weak, host, f"sshd offers weak key exchanges {', '.join(weak)}",
            "only curve25519, sntrup761x25519, ECDH or DH group14+/SHA-2 key exchanges")


@pytest.mark.check("ssh-09", "MaxAuthTries limited", severity="medium",
                   refs=("dev-sec ssh-baseline: sshd-19", "CIS Debian Linux 12 5.1.16: Ensure sshd MaxAuthTries is configured"),
                   answers=("maxauthtries", "ssh auth|login|authentication tries|attempt|retries limit|max",
                            "ssh harden|hardening|lockdown"))
@read_ahead(effective)
def test_max_auth_tries(host, evidence):
    """Fewer tries per connection slow password guessing and key spraying and make failures
    visible in the log sooner.  Passes when ``MaxAuthTries`` is at most ``ssh_max_auth_tries``
    (default 4, as CIS)."""
    sshd = effective(host)
    tries = sshd.number("maxauthtries")
    limit = host.threshold("ssh_max_auth_tries")
    evidence.record(**sshd.evidence("maxauthtries"), limit=limit)
    require(0 < tries <= limit, host, f"sshd MaxAuthTries is {tries}", f"1..{limit}")


@pytest.mark.check("ssh-10", "LoginGraceTime bounded", severity="low",
                   refs=("dev-sec ssh-baseline: sshd-18", "CIS Debian Linux 12 5.1.13: Ensure sshd LoginGraceTime is configured"),
                   answers=("logingracetime", "ssh login grace time?", "ssh harden|hardening|lockdown"))
@read_ahead(effective)
def test_login_grace_time(host, evidence):
    """Unauthenticated connections hold a slot (MaxStartups) for LoginGraceTime; a long or
    unlimited grace time lets a few idle connections lock everyone out.  Passes when
    ``LoginGraceTime`` is set (not 0, which means unlimited) and at most ``ssh_login_grace_max_s``
    (default 60 s)."""
    sshd = effective(host)
    grace = sshd.number("logingracetime")
    limit = host.threshold("ssh_login_grace_max_s")
    evidence.record(**sshd.evidence("logingracetime"), limit_s=limit)
    shown = "0 (unlimited)" if grace == 0 else f"{grace}s"
    require(0 < grace <= limit, host, f"sshd LoginGraceTime is {shown}", f"1..{limit}s")


@pytest.mark.check("ssh-11", "Idle sessions ended (ClientAliveInterval)", severity="low",
                   refs=("dev-sec ssh-baseline: sshd-36, sshd-37",
                         "CIS Debian Linux 12 5.1.7: Ensure sshd ClientAliveInterval and ClientAliveCountMax are configured"),
                   answers=("clientaliveinterval|clientalivecountmax", "ssh idle session|connection timeout|disconnect",
                            "ssh harden|hardening|lockdown"))
@read_ahead(effective)
def test_client_alive(host, evidence):
    """Without client-alive probes a dead or abandoned session stays logged in for ever.  Passes
    when ``ClientAliveInterval`` is set (not 0) and at most ``ssh_client_alive_max_s`` (default
    300 s) and ``ClientAliveCountMax`` is above 0 (0 disables the disconnect)."""
    sshd = effective(host)
    interval = sshd.number("clientaliveinterval")
    count = sshd.number("clientalivecountmax")
    limit = host.threshold("ssh_client_alive_max_s")
    evidence.record(**sshd.evidence("clientaliveinterval", "clientalivecountmax"), limit_s=limit)
    require(0 < interval <= limit and count > 0, host,
            f"sshd ClientAliveInterval is {interval}s{' (off)' if interval == 0 else ''}, ClientAliveCountMax {count}",
            f"ClientAliveInterval 1..{limit}s and ClientAliveCountMax >= 1")


@pytest.mark.check("ssh-12", "X11 forwarding disabled", severity="medium",
                   refs=("dev-sec ssh-baseline: sshd-42", "CIS Debian Linux 12 5.1.8: Ensure sshd DisableForwarding is enabled"),
                   answers=("x11 forwarding? disabl|no|off?", "ssh forwarding disabl|off|no agent?", "ssh harden|hardening|lockdown"))
@read_ahead(effective)
def test_x11_forwarding_off(host, evidence):
    """A forwarded X11 display lets the server (or whoever controls it) read keystrokes and
    screens of the connecting administrator; servers have no use for it.  Passes when
    ``X11Forwarding no`` (or ``DisableForwarding yes``)."""
    sshd = effective(host)
    evidence.record(**sshd.evidence("x11forwarding", "disableforwarding"))
    value = sshd.flag("x11forwarding")
    require(value == "no" or sshd.flag("disableforwarding") == "yes", host, f"sshd X11Forwarding is {value}", "no")
