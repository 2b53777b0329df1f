"""The malformed-input corpus: every bad inventory, attestations or waivers file is one usage
error naming file, line and the fix (exit 4), never a traceback, a hang or silent acceptance.

Most cases go through the loaders directly (fast, one assertion each: the message); a sample
goes end to end through pytest to prove the exit status and that nothing else is printed.
Nothing here measures time: a hang would show as the test never finishing (the FIFO and
``/dev/zero`` cases), and the billion-laughs file is stopped by a count of values.
"""

from __future__ import annotations

import os
import textwrap
import urllib.parse
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_deploycheck.governance.attestations import load_attestations
from pytest_deploycheck.governance.waivers import load_waivers
from pytest_deploycheck.inputfile import MAX_FILE_BYTES
from pytest_deploycheck.inventory import load_inventory
from pytest_deploycheck.redact import Redactor

LAUGHS = "".join(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9 if i else ["lol"] * 9) + "]\n" for i in range(9))

#: name -> (inventory text, fragment the one problem line must hold, line it must name)
INVENTORIES: dict[str, tuple[str, str, int]] = {
    "billion laughs": (LAUGHS, "expands to more than", 1),
    "python tag": ("http:\n  a:\n    url: !!python/object/apply:os.system [id]\n", "YAML tag !!python/object/apply:os.system is not allowed", 3),
    "custom tag": ("http:\n  a:\n    url: !Ref api_url\n", "YAML tag !Ref is not allowed", 3),
    "deep nesting": ("x: " + "[" * 500 + "]" * 500 + "\n", "nested more than", 1),
    "alias in its own anchor": ("hosts: &a\n  me: {backend: 'local://', x-loop: *a}\n", "nested more than", 2),
    "impossible date": ("description: 2026-02-30\nhosts:\n  me: {backend: 'local://'}\n", "'2026-02-30' is an impossible date", 1),
    "timeout too long": ("timeout: 1000000000\nhosts:\n  me: {backend: 'local://'}\n", "timeout of 1e+09 seconds is out of range", 1),
    "timeout nan": ("hosts:\n  me: {backend: 'local://', timeout: .nan}\n", "is not a number a check can use", 2),
    "threshold inf": ("thresholds: {connection_usage_max_pct: .inf}\nhosts:\n  me: {backend: 'local://'}\n", "is not a number a check can use", 1),
    "count unbounded": ("thresholds: {latency_samples: 100000000}\nhosts:\n  me: {backend: 'local://'}\n", "out of range: at most 1,000", 1),
    "url port too big": ("http:\n  a: {url: 'https://127.0.0.1:99999/'}\n", "not a number in 1-65535", 2),
    "url port zero": ("http:\n  a: {url: 'https://127.0.0.1:0/'}\n", "port 0 is out of range 1-65535", 2),
    "listen port": ("hosts:\n  me: {backend: 'local://', listen_allow: [70000]}\n", "port 70000 is out of range 1-65535", 2),
    "ftp for http": ("http:\n  a: {url: 'ftp://127.0.0.1/'}\n", "over http:// or https://, not ftp://", 2),
    "mysql for postgres": ("postgres:\n  db: {dsn: 'mysql://app@127.0.0.1/app'}\n", "over postgresql:// or postgres://, not mysql://", 2),
    "http for redis": ("redis:\n  cache: {url: 'http://127.0.0.1:6379'}\n", "over redis:// or rediss:// or unix://, not http://", 2),
    "mysql ssl-mode": ("mysql:\n  db: {dsn: 'mysql://app@127.0.0.1/app?ssl-mode=SOMETIMES'}\n", "ssl-mode=SOMETIMES is not one MySQL knows", 2),
    "postgres sslmode": ("postgres:\n  db: {dsn: 'host=127.0.0.1 dbname=app sslmode=sometimes'}\n", "sslmode=sometimes is not one libpq knows", 2),
    "CR LF in url": ('http:\n  a: {url: "https://127.0.0.1/\\r\\nX-Injected: 1"}\n', "carriage return (CR)", 2),
    "CR LF from a variable": ("http:\n  a: {url: 'https://127.0.0.1/${DC_TEST_PATH}'}\n", "line feed (LF)", 2),
    "control character": ("http:\n  a: {url: 'https://127.0.0.1/\x07'}\n", "not a YAML text", 2),
    "mapping as key": ("? [a, b]\n: 1\n", "keys must be strings", 1),
    "syntax error": ("http:\n  a: [\n", "YAML syntax error", 3),
}


@pytest.mark.parametrize("name", list(INVENTORIES))
def test_bad_inventory_is_one_problem_line(tmp_path: Path, name: str) -> None:
    text, fragment, line = INVENTORIES[name]
    path = tmp_path / "inv.yml"
    path.write_text(text)
    with pytest.raises(pytest.UsageError) as raised:
        load_inventory(path, environ={"DC_TEST_PATH": "health\nX-Injected: 1"})
    message = str(raised.value)
    problems = [m for m in message.splitlines() if m.startswith(f"{os.path.relpath(path)}:")]
    assert fragment in message, message
    assert any(m.startswith(f"{os.path.relpath(path)}:{line}:") and fragment in m for m in problems), message
    assert "the inventory is empty" not in message  # a file that does not parse is not empty


def test_not_a_regular_file(tmp_path: Path) -> None:
    fifo = tmp_path / "inv.yml"
    os.mkfifo(fifo)  # open() of a FIFO waits for a writer: the reader must not
    with pytest.raises(pytest.UsageError, match=r"is a named pipe \(FIFO\), not a regular file"):
        load_inventory(fifo)
    with pytest.raises(pytest.UsageError, match="is a device, not a regular file"):
        load_inventory("/dev/zero")
    with pytest.raises(pytest.UsageError, match="is a directory"):
        load_inventory(tmp_path)


def test_file_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "inv.yml"
    path.write_bytes(b"# padding\n" * (MAX_FILE_BYTES // 10 + 1))
    with pytest.raises(pytest.UsageError, match="is larger than the"):
        load_inventory(path)


def test_nul_byte_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "inv.yml"
    path.write_bytes(b"hosts:\n  me: {backend: 'local://'}\n  x: \x00\n")
    with pytest.raises(pytest.UsageError, match=r"inv.yml:3: contains a NUL byte"):
        load_inventory(path)


def test_utf16_file_is_refused_not_misread(tmp_path: Path) -> None:
    path = tmp_path / "inv.yml"
    path.write_text("hosts:\n  me: {backend: 'local://'}\n", encoding="utf-16")
    with pytest.raises(pytest.UsageError, match=r"NUL byte|not UTF-8"):
        load_inventory(path)


@pytest.mark.parametrize("password", ["p@ss/w:rd#1?x", "a%20b", "plain-but-long-1"])
def test_variable_in_a_url_is_percent_encoded(tmp_path: Path, password: str) -> None:
    """A password holding ``@ / : # ?`` spliced into a URL must not change the host."""
    path = tmp_path / "inv.yml"
    path.write_text("hosts:\n  box:\n    backend: 'paramiko://deploy:${DC_SSH_PW}@127.0.0.1:2222'\n"
                    "    ssh_host_key_checking: false\n"
                    "http:\n  api: {url: 'https://127.0.0.1:8443/v1?token=${DC_TOKEN}&x=1'}\n")
    redactor = Redactor()
    inventory = load_inventory(path, environ={"DC_SSH_PW": password, "DC_TOKEN": "t&k=n#1"}, redactor=redactor)
    backend = inventory.get("hosts", "box").spec["backend"]
    parts = urllib.parse.urlsplit(backend)
    assert (parts.hostname, parts.port, parts.username) == ("127.0.0.1", 2222, "deploy")
    assert urllib.parse.unquote(parts.password or "") == password
    assert inventory.get("hosts", "box").endpoint == ("127.0.0.1", 2222)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(inventory.get("http", "api").spec["url"]).query)
    assert query == {"token": ["t&k=n#1"], "x": ["1"]}
    assert password not in redactor.redact(backend) and urllib.parse.quote(password, safe="") not in redactor.redact(backend)


def test_variable_holding_a_whole_url_is_not_encoded(tmp_path: Path) -> None:
    path = tmp_path / "inv.yml"
    path.write_text("http:\n  api: {url: '${DC_API_URL}'}\n")
    inventory = load_inventory(path, environ={"DC_API_URL": "https://127.0.0.1:8443/v1"})
    assert inventory.get("http", "api").spec["url"] == "https://127.0.0.1:8443/v1"


# --------------------------------------------------------------------------- governance files


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


GOVERNANCE: dict[str, tuple[Callable[[Path], object], str, str, str]] = {
    "attestation impossible date": (load_attestations, "attestations.yml", """\
        version: 1
        attestations:
          doc-01:
            by: Ada
            role: SRE lead
            date: 2026-02-30
            evidence: OPS-1
            valid_for: 30d
        """, "attestations.yml:6: attestations.doc-01.date: '2026-02-30' is an impossible date"),
    "attestation period overflow": (load_attestations, "attestations.yml", """\
        version: 1
        attestations:
          doc-01: {by: Ada, role: SRE lead, date: 2024-01-01, evidence: OPS-1, valid_for: 99999999d}
        """, "is out of range: at most 3660"),
    "attestation tag": (load_attestations, "attestations.yml", """\
        version: 1
        attestations: !!python/name:os.system
        """, "YAML tag !!python/name:os.system is not allowed"),
    "waiver impossible date": (load_waivers, "waivers.yml", """\
        version: 1
        waivers:
          - {id: W-1, check: http-07, target: '*', justification: legacy, approver: Jane, ticket: R-1, expires: 2027-13-01}
        """, "'2027-13-01' is an impossible date"),
    "waiver billion laughs": (load_waivers, "waivers.yml", LAUGHS, "expands to more than"),
}


@pytest.mark.parametrize("name", list(GOVERNANCE))
def test_bad_governance_file_is_one_problem(tmp_path: Path, name: str) -> None:
    loader, filename, text, fragment = GOVERNANCE[name]
    path = _write(tmp_path, filename, text)
    with pytest.raises(pytest.UsageError) as raised:
        loader(path)
    assert fragment in str(raised.value), str(raised.value)


def test_governance_file_that_is_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "waivers.yml"
    os.mkfifo(fifo)
    with pytest.raises(pytest.UsageError, match="named pipe"):
        load_waivers(fifo)


# --------------------------------------------------------------------------- end to end: exit 4, one line


CHECK = '''
import pytest

@pytest.mark.check("demo-01", "Item", severity="high")
def test_item(host):
    """I."""
'''


@pytest.mark.parametrize("name", ["billion laughs", "python tag", "impossible date", "mysql ssl-mode", "syntax error"])
def test_bad_inventory_end_to_end(pytester: pytest.Pytester, name: str) -> None:
    text, fragment, _ = INVENTORIES[name]
    pytester.makepyfile(test_catalog=CHECK)
    (pytester.path / "inv.yml").write_text(text)
    result = pytester.runpytest(f"--inventory={pytester.path / 'inv.yml'}")
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, output
    assert fragment in output
    assert "Traceback" not in output and "INTERNALERROR" not in output, output


def test_report_path_that_is_a_directory(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_catalog=CHECK)
    (pytester.path / "inv.yml").write_text("hosts:\n  me: {backend: 'local://'}\n")
    (pytester.path / "out").mkdir()
    for option in ("--deploycheck-json", "--junitxml"):
        result = pytester.runpytest(f"--inventory={pytester.path / 'inv.yml'}", f"{option}={pytester.path / 'out'}")
        output = result.stdout.str() + result.stderr.str()
        assert result.ret == pytest.ExitCode.USAGE_ERROR, output
        # pytest's own --junitxml says it first ("must be a filename"); ours says it for the rest
        assert "is a directory; give a file name for the report" in output or "must be a filename" in output
        assert "passed" not in result.stdout.str()  # nothing ran


def test_report_folder_not_writable(pytester: pytest.Pytester) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes anywhere: the permission case cannot be made")
    pytester.makepyfile(test_catalog=CHECK)
    (pytester.path / "inv.yml").write_text("hosts:\n  me: {backend: 'local://'}\n")
    locked = pytester.path / "locked"
    locked.mkdir(mode=0o500)
    result = pytester.runpytest(f"--inventory={pytester.path / 'inv.yml'}", f"--deploycheck-json={locked / 'r.json'}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "permission denied" in result.stdout.str() + result.stderr.str()
