"""Secrets from the inventory never reach the terminal: messages, tracebacks, locals, logs, output."""

from __future__ import annotations

import re

import pytest

CANARY = "canary-Zq8wX3vT9p"

CATALOG = f'''
import logging
import pytest
from pytest_deploycheck import require, TargetError
pytestmark = pytest.mark.section("leak", "Leak")
log = logging.getLogger("catalog")

@pytest.mark.check("leak-01", "Fails with the secret in the message", severity="high")
def test_message(redis):
    """The password appears in the assertion and in the locals."""
    password = redis.target.get("password")
    print("stdout says", password)
    log.warning("logging says %s", password)
    assert password == "something else"

@pytest.mark.check("leak-02", "Errors with the secret in the exception", severity="high")
def test_exception(redis):
    """A crash whose text carries the secret."""
    raise RuntimeError("connect failed for redis://:" + redis.target.get("password") + "@host")

@pytest.mark.check("leak-03", "Fails through require", severity="high")
def test_require(redis):
    """require() message with the secret."""
    require(False, redis, "password is " + redis.target.get("password"), "anything but {CANARY}")

@pytest.mark.check("leak-04", "URL userinfo", severity="low")
def test_url(http_endpoint):
    """The URL in the inventory carries a password inline."""
    assert http_endpoint.url == "nothing"
'''


@pytest.fixture
def leaky(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DC_LEAK_PASSWORD", CANARY)
    pytester.makepyfile(test_catalog=CATALOG)
    (pytester.path / "inv.yml").write_text(
        "redis:\n  cache: {url: 'redis://127.0.0.1:1/0', password: '${DC_LEAK_PASSWORD}'}\n"
        "http:\n  api: {url: 'http://user:inline-pass-77@127.0.0.1:1'}\n"
    )
    # The checks must run even though nothing listens: skip the pre-flight by marking nothing
    # dead; the failures come from the check bodies, which never connect.
    pytester.makeconftest('''
import pytest
from pytest_deploycheck.state import STATE_KEY

@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session):
    reach = session.config.stash[STATE_KEY].reach
    reach.preflight = lambda target: None  # only this test: exercise the bodies without servers
''')
    return "--inventory=inv.yml"


@pytest.mark.parametrize("args", [
    ("-vv", "--tb=long", "--showlocals"),
    ("--tb=short",),
    ("--tb=native", "-rA"),
    ("-s", "--tb=line"),
    ("-o", "log_cli=true", "--log-cli-level=WARNING", "--tb=long", "-l"),
])
def test_canary_never_reaches_the_terminal(pytester: pytest.Pytester, leaky: str, args: tuple[str, ...]) -> None:
    result = pytester.runpytest_subprocess(leaky, *args)
    text = result.stdout.str() + result.stderr.str()
    assert "leak-01" in text or "test_message" in text
    if "-s" not in args:
        assert CANARY not in text, [line for line in text.splitlines() if CANARY in line]
    else:
        # With -s pytest hands the terminal to the checks: prints bypass capture (documented);
        # everything the plugin and pytest themselves write is still masked.
        assert [line.split(" ", 1)[-1] for line in text.splitlines() if CANARY in line] == [f"stdout says {CANARY}"]
    assert "inline-pass-77" not in text
    assert "***" in text


def test_masked_forms(pytester: pytest.Pytester, leaky: str) -> None:
    result = pytester.runpytest(leaky, "--tb=long", "-l")
    out = result.stdout.str()
    assert re.search(r"password +=  *'\*\*\*'", out)
    assert "cache (redis://127.0.0.1:1/0): password is ***; expected anything but ***" in out
    assert "api (http://user@127.0.0.1:1)" in out  # the label drops userinfo
    result.stdout.fnmatch_lines(["*RuntimeError: connect failed for redis://:***@host*"])


def test_truncated_secrets_are_masked() -> None:
    from pytest_deploycheck.redact import Redactor

    redactor = Redactor()
    redactor.add(CANARY)
    assert redactor.redact(f"'redis://:{CANARY[:9]}...@host'") == "'redis://:***...@host'"
    assert redactor.redact(f"'...{CANARY[-5:]}@host'") == "'...***@host'"
    assert redactor.redact("nothing to hide ... here") == "nothing to hide ... here"


def test_plain_data_is_searched_whole_and_kept_when_no_secret_is_in_it() -> None:
    """``redact_obj``'s fast path: one search of the value's JSON text; a secret anywhere inside
    (a key, a nested list, a tuple) still reaches the per-string masking."""
    from pytest_deploycheck.redact import Redactor

    redactor = Redactor()
    redactor.add(CANARY)
    clean = {"outcome": "passed", "evidence": {"headers": ["a", "b"], "n": 3, "ok": True, "x": None}}
    assert redactor.redact_obj(clean) is clean
    dirty = {"evidence": {"seen": [("url", f"redis://:{CANARY}@h")], CANARY: 1}, "n": 2.5}
    assert redactor.redact_obj(dirty) == {"evidence": {"seen": [("url", "redis://:***@h")], "***": 1}, "n": 2.5}
    assert redactor.redact_obj({"cut": f"{CANARY[:8]}..."}) == {"cut": "***..."}  # an ellipsis: every string in turn
    assert redactor.redact_obj({"obj": object(), "s": CANARY})["s"] == "***"  # not JSON: every string in turn


@pytest.mark.parametrize("secret", ['pa"ss-word-1', "pa\\ss-word-2", "pass\tword-3", "pässwörd-4"])
def test_secrets_json_would_escape_are_masked_in_data_too(secret: str) -> None:
    from pytest_deploycheck.redact import Redactor

    redactor = Redactor()
    redactor.add(secret)
    assert redactor.redact_obj({"message": f"password is {secret}!", "list": [secret]}) == {"message": "password is ***!", "list": ["***"]}
