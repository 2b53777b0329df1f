"""The outgoing-mail catalog (checks/test_smtp.py), and the TLS catalog on mail servers, against
the test bed's real SMTP server (aiosmtpd): see ``tests/servers/smtp.py`` for its setups."""

from __future__ import annotations

import base64
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_deploycheck.inventory import load_inventory
from pytest_deploycheck.outcomes import TargetError
from pytest_deploycheck.targets.reach import Reachability
from pytest_deploycheck.targets.smtp import SmtpTarget
from pytest_deploycheck.targets.smtp_session import MAX_REPLY_LINES, Conversation
from tests.servers.base import LOOPBACK, SilentListener
from tests.servers.inventory import run_catalog, write_inventory
from tests.servers.smtp import USER, MailBed

CHECK_IDS = ("smtp-01", "smtp-02", "smtp-03")


def test_catalog_on_good_and_bad_mail_servers(pytester: pytest.Pytester, mail_bed: MailBed) -> None:
    targets = list(mail_bed.targets.values())
    run = run_catalog(pytester, "test_smtp.py", targets=targets, active_probes=True)
    outcomes = {name: {c: run.outcome(c, name) for c in CHECK_IDS} for name in mail_bed.targets}
    assert outcomes == {
        "smtp-good": dict.fromkeys(CHECK_IDS, "passed"),
        "smtps-good": dict.fromkeys(CHECK_IDS, "passed"),
        "smtp-wrongpass": {"smtp-01": "passed", "smtp-02": "failed", "smtp-03": "passed"},
        "smtp-bad": {"smtp-01": "failed", "smtp-02": "error", "smtp-03": "failed"},
        "smtp-expired": {"smtp-01": "passed", "smtp-02": "error", "smtp-03": "passed"},
    }
    bad = mail_bed.targets["smtp-bad"].entry["url"]
    assert run.message("smtp-01", "smtp-bad") == (
        f"smtp-bad ({bad}): EHLO offers no STARTTLS (extensions: 8BITMIME, AUTH, HELP, SIZE, SMTPUTF8); AUTH LOGIN PLAIN is "
        "offered before TLS (a password can go in clear text); expected STARTTLS offered, and AUTH only after it (or smtps://)")
    assert run.message("smtp-02", "smtp-bad").endswith("EHLO offers no STARTTLS, so there is no TLS to log in over (smtp-01)")
    assert run.message("smtp-03", "smtp-bad") == (
        f"smtp-bad ({bad}): accepted RCPT TO:<deploycheck-probe@example.net> from <deploycheck-probe@example.com> without a login "
        "(250 2.1.5 OK): it relays for anyone; expected a refusal (5xx relay access denied) unless the client has logged in")
    assert run.message("smtp-02", "smtp-wrongpass").endswith(
        f"login as {USER} answered 535 5.7.8 Authentication credentials invalid; expected 235 (authentication succeeded)")
    assert "the certificate does not verify (certificate has expired; see the tls checks): credentials are not sent" in \
        run.message("smtp-02", "smtp-expired")
    assert run.evidence("smtp-03", "smtp-good")["rcpt_to"] == "554 5.7.1 Relay access denied"
    assert run.evidence("smtp-01", "smtp-good")["extensions_before_tls"] == ["8BITMIME", "HELP", "SIZE", "SMTPUTF8", "STARTTLS"]
    passwords = {value for inst in targets for value in inst.env.values()} | {targets[0].admin["password"]}
    for result in run.summary.results:
        text = f"{result.message} {result.evidence}"
        assert not any(p in text for p in passwords), result.check_id


def test_relay_probe_is_off_unless_the_inventory_allows_it(pytester: pytest.Pytester, mail_bed: MailBed) -> None:
    run = run_catalog(pytester, "test_smtp.py", targets=[mail_bed.targets["smtp-bad"]], args=["-k", "smtp-03"])
    assert run.outcome("smtp-03", "smtp-bad") == "n/a"
    assert "active probe not enabled" in run.message("smtp-03", "smtp-bad")


def test_tls_checks_run_after_starttls(pytester: pytest.Pytester, mail_bed: MailBed) -> None:
    """Every smtp target is a tls target: the certificate is read after STARTTLS (smtp://) or at
    once (smtps://); a server with no STARTTLS gives the TLS checks nothing to examine (error)."""
    names = ("smtp-good", "smtps-good", "smtp-expired", "smtp-bad")
    run = run_catalog(pytester, "test_tls.py", targets=[mail_bed.targets[n] for n in names], args=["-k", "tls-01 or tls-03 or tls-09"])
    assert {n: run.outcome("tls-03", n) for n in names} == {"smtp-good": "passed", "smtps-good": "passed", "smtp-expired": "failed",
                                                           "smtp-bad": "error"}
    assert run.outcome("tls-01", "smtp-good") == "passed" and run.outcome("tls-09", "smtp-good") == "passed"
    assert run.outcome("tls-01", "smtp-expired") == "failed"
    assert run.message("tls-03", "smtp-bad").endswith("no TLS to examine: EHLO does not offer STARTTLS (smtp-01)")


def test_no_credentials_means_nothing_examined(pytester: pytest.Pytester, mail_bed: MailBed) -> None:
    good = mail_bed.targets["smtp-good"]
    entry = {k: v for k, v in good.entry.items() if k != "password"}
    anonymous = type(good)(name="smtp-anon", kind="smtp", entry=entry, env={}, server=None)
    run = run_catalog(pytester, "test_smtp.py", targets=[anonymous], args=["-k", "smtp-02"])
    assert run.outcome("smtp-02", "smtp-anon") == "n/a"
    assert run.result_for("smtp-02", "smtp-anon").unexamined


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://127.0.0.1:25", "a smtp target is reached over smtp:// or smtps://, not http://"),
        ("smtp://app:secret@127.0.0.1:587", "holds a login; give it as username and password"),
        ("smtp://127.0.0.1:587/inbox", "has a path or query"),
        ("smtp://", "names no host"),
    ],
)
def test_bad_urls_are_refused_at_load(tmp_path: Path, url: str, problem: str) -> None:
    path = tmp_path / "inventory.yml"
    path.write_text(f"smtp:\n  mail:\n    url: {url!r}\n")
    with pytest.raises(pytest.UsageError) as info:
        load_inventory(path)
    text = str(info.value)
    assert "inventory.yml:3: smtp.mail.url" in text and problem in text, text  # the path as the terminal shows it: relative or not
    assert "secret" not in text


@pytest.fixture
def misbehaving() -> Iterator[tuple[int, list[bytes]]]:
    """A server on 127.0.0.1 that answers every connection with the next of ``scripts`` (bytes),
    then keeps the connection open without a word."""
    scripts: list[bytes] = []
    listener = socket.socket()
    listener.bind((LOOPBACK, 0))
    listener.listen(8)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            held.append(conn)
            if scripts:
                conn.sendall(scripts.pop(0))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], scripts
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


def _handle(tmp_path: Path, port: int, timeout: float = 1.0) -> SmtpTarget:
    inventory = write_inventory(tmp_path / "inv.yml")
    inventory.write_text(f"smtp:\n  odd:\n    url: smtp://{LOOPBACK}:{port}\n    timeout: {timeout}\n")
    target = next(t for t in load_inventory(inventory).targets if t.kind == "smtp")
    return SmtpTarget(target, Reachability())


def test_hostile_servers_cost_one_timeout_and_a_bounded_read(tmp_path: Path, misbehaving: tuple[int, list[bytes]]) -> None:
    port, scripts = misbehaving
    scripts += [b"HTTP/1.1 400 Bad Request\r\n\r\n", b"220-mail\r\n" * (MAX_REPLY_LINES + 5), b"220 mail ready\r\n", b"554 go away\r\n"]
    with pytest.raises(TargetError, match=r"the answer is not SMTP: 'HTTP/1\.1 400 Bad Request'"):
        _handle(tmp_path, port).greeting()
    with pytest.raises(TargetError, match=rf"a reply of more than {MAX_REPLY_LINES} lines"):
        _handle(tmp_path, port).greeting()
    with pytest.raises(TargetError, match=r"no complete SMTP answer within 1s"):  # greets, then says nothing to EHLO
        _handle(tmp_path, port).greeting()
    with pytest.raises(TargetError, match=r"greets with 554 go away instead of 220"):
        _handle(tmp_path, port).greeting()


def test_a_silent_port_costs_one_timeout(tmp_path: Path) -> None:
    with SilentListener() as silent:
        handle = _handle(tmp_path, silent.port, timeout=0.5)
        with pytest.raises(TargetError, match=r"no complete SMTP answer within 0\.5s"):
            handle.greeting()
        with pytest.raises(TargetError, match="no complete SMTP answer"):  # the target is marked: no second connection
            handle.greeting()
        assert silent.accepted() == 1


def test_a_server_echoing_the_credentials_has_them_masked() -> None:
    """A reply that repeats the AUTH line (a broken or hostile server) never carries the password out."""
    left, right = socket.socketpair()
    token = base64.b64encode(b"\0app\0s3cret-Pa55").decode()
    right.sendall(f"535 5.7.8 bad credentials in AUTH PLAIN {token} (s3cret-Pa55)\r\n".encode())
    try:
        reply = Conversation(left, deadline=time.monotonic() + 2).auth("PLAIN", "app", "s3cret-Pa55")
    finally:
        left.close()
        right.close()
    assert reply.code == 535
    assert "s3cret" not in reply.text and token not in reply.text
    assert reply.text == "535 5.7.8 bad credentials in AUTH PLAIN *** (***)"
