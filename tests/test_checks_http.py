"""The HTTP hardening checks (checks/test_http_security.py) against nginx's good and insecure
sites and the sample app reached directly.

The insecure site has a valid certificate and lacks every hardening (headers, banner, CORS,
redirect, cookie flags); nginx refuses TRACE on every site, so the TRACE check's bad target is
the bad app itself.  A site whose certificate does not verify ends in errors: the tls checks
carry that finding.
"""

from __future__ import annotations

import dataclasses

import pytest

from tests.servers.base import LOOPBACK, Instance, free_port
from tests.servers.inventory import run_catalog

CHECK_IDS = [f"http-{n:02d}" for n in range(1, 12)]


def _expect(*failed: str, passed: str = "passed") -> dict[str, str]:
    return {check: "failed" if check in failed else passed for check in CHECK_IDS}


def test_http_checks(pytester: pytest.Pytester, nginx_sites: dict[str, Instance], sample_app_good: Instance,
                     sample_app_bad: Instance) -> None:
    good, insecure = nginx_sites["good"], nginx_sites["insecure"]
    # The good site again, as a deployment with no plain-HTTP listener at all (nothing to redirect)
    # and an explicit CORS allow-list.
    https_only = dataclasses.replace(good, name="https-only", entry={
        **good.entry, "http_url": f"http://{LOOPBACK}:{free_port()}", "cors_allowed_origins": [good.admin["allowed_origin"]]})
    run = run_catalog(pytester, "test_http_security.py",
                      targets=[good, https_only, insecure, nginx_sites["expired_cert"], sample_app_good, sample_app_bad])

    outcomes = {target: {check: run.outcome(check, target) for check in CHECK_IDS}
                for target in ("nginx-good", "https-only", "nginx-insecure", "app-good", "app-bad")}
    assert outcomes == {
        "nginx-good": _expect(),
        "https-only": _expect(),
        "nginx-insecure": _expect(*CHECK_IDS[:9], "http-11"),  # everything but TRACE, which nginx refuses itself
        # Plain HTTP, no headers: the app alone is not hardened; its cookie flags and banner are its own.
        "app-good": _expect("http-01", "http-02", "http-03", "http-04", "http-05", "http-06"),
        "app-bad": _expect("http-01", "http-02", "http-03", "http-04", "http-05", "http-06", "http-07", "http-09", "http-10", "http-11"),
    }
    # The good app refuses a Host it does not serve; the bad one builds its links from it, through nginx too.
    assert run.evidence("http-11", "nginx-good")["answers"]["Host"]["status"] == 400
    forged = run.evidence("http-11", "app-bad")["forged_host"]
    assert forged == "forged-host.deploycheck.invalid"
    assert (f"a forged Host ({forged}) came back in the body of / (200); a forged X-Forwarded-Host ({forged}) came back in the body of / (200)"
            in run.message("http-11", "app-bad"))
    assert "X-Forwarded-Host" in run.message("http-11", "nginx-insecure")
    # HTTP/2 (information): the good site offers it, the insecure one answers ALPN with http/1.1, plain HTTP has none.
    http2 = {target: run.outcome("http-12", target) for target in ("nginx-good", "https-only", "nginx-insecure", "app-good", "app-bad")}
    assert http2 == {"nginx-good": "passed", "https-only": "passed", "nginx-insecure": "failed", "app-good": "n/a", "app-bad": "n/a"}
    assert run.evidence("http-12", "nginx-good")["selected"] == "h2"
    assert "the TLS handshake chose http/1.1; expected h2 (HTTP/2) when a client offers it" in run.message("http-12", "nginx-insecure")
    # Files from the project checkout: judged by what they hold, never quoted.
    exposed = {target: run.outcome("http-13", target) for target in ("nginx-good", "https-only", "nginx-insecure", "app-good", "app-bad")}
    assert exposed == {"nginx-good": "passed", "https-only": "passed", "nginx-insecure": "failed", "app-good": "passed", "app-bad": "passed"}
    assert run.message("http-13", "nginx-insecure").endswith(
        ": serves /.git/HEAD (a git HEAD), /.env (environment variables), /backup.sql (a database dump);"
        " lists the folder /uploads/; expected no repository, secret or dump file served and no generated folder index")
    assert run.evidence("http-13", "nginx-good")["probed"]["/.git/HEAD"] == 404
    assert run.evidence("http-13", "nginx-insecure")["probed"]["/.htpasswd"] == 404  # not there: the app's 404
    assert not any("checkout-env-secret" in repr(r.evidence) + r.message for r in run.summary.results)
    # Mixed content: the bad page's hand-written http:// script, behind HTTPS; plain HTTP is http-01's.
    mixed = {target: run.outcome("http-14", target) for target in ("nginx-good", "https-only", "nginx-insecure", "app-good", "app-bad")}
    assert mixed == {"nginx-good": "passed", "https-only": "passed", "nginx-insecure": "failed", "app-good": "n/a", "app-bad": "n/a"}
    assert "1 subresource over plain HTTP on an HTTPS page: <script src> http://127.0.0.1/static/app.js; expected " in run.message("http-14", "nginx-insecure")
    assert run.evidence("http-14", "nginx-good") == {"insecure": [], "upgrade_insecure_requests": False}

    # Only the certificate is bad (the tls checks report it): the header checks still judge what the
    # server sends, over a connection that does not verify, and say so in their evidence (as
    # testssl.sh does).  A request with credentials (the test login) is never sent there: blocked.
    expired = "nginx-expired_cert"
    assert run.outcome("http-01", expired) == "passed"  # its plain-HTTP port redirects
    unverified = "answer read over a connection that does not verify the certificate (certificate has expired)"
    for check in [*CHECK_IDS[1:], "http-13"]:
        if run.outcome(check, expired) == "error":
            assert "not sent: the certificate cannot be verified (certificate has expired)" in run.message(check, expired), check
            assert run.evidence(check, expired)["blocked_by"]["cause"] == "certificate"
            continue
        assert run.outcome(check, expired) == run.outcome(check, "nginx-good"), (check, run.message(check, expired))
        assert any(line.startswith(unverified) for line in run.evidence(check, expired)["transport"]), check

    # Messages name target, observed and expected.
    site = "nginx-insecure"
    assert run.message("http-01", site).startswith(f"{site} (https://127.0.0.1:")
    assert f"{insecure.entry['http_url']}/ answers 200 over plain HTTP; expected a redirect to https://" in run.message("http-01", site)
    assert run.message("http-02", site).endswith(
        "no Strict-Transport-Security header; expected Strict-Transport-Security with max-age >= 15552000")
    assert "no Content-Security-Policy header" in run.message("http-03", site)
    assert "no X-Content-Type-Options header; expected X-Content-Type-Options: nosniff" in run.message("http-04", site)
    assert "no X-Frame-Options, no CSP frame-ancestors" in run.message("http-05", site)
    assert "no Referrer-Policy header" in run.message("http-06", site)
    banner = run.message("http-07", site)
    assert "Server: nginx/1." in banner
    assert "X-Powered-By: Starlette/" in banner
    cors = run.message("http-08", site)
    assert "Access-Control-Allow-Origin: * with Access-Control-Allow-Credentials: true" in cors
    assert "Origin https://cors-probe.example reflected with Access-Control-Allow-Credentials: true" in cors
    assert "Origin null reflected" in cors
    assert "cookie session (login): no Secure, no HttpOnly, no SameSite" in run.message("http-09", site)
    assert "TRACE / answers 200 and echoes the request headers; expected 405 or 501" in run.message("http-10", "app-bad")

    # Evidence: what was seen.
    assert run.evidence("http-01", "nginx-good")["status"] == 301
    assert run.evidence("http-01", "https-only")["plain_http"] == "not served (connection refused)"
    assert run.evidence("http-02", "nginx-good")["max_age"] == 31536000
    assert run.evidence("http-05", "nginx-good")["x_frame_options"] == "DENY"
    assert run.evidence("http-06", "nginx-good")["effective"] == "strict-origin-when-cross-origin"
    assert run.evidence("http-07", "nginx-good")["banners"] == []
    assert run.evidence("http-08", "https-only")["access_control_allow_origin"]["Origin https://cors-probe.example"] == "-"
    assert run.evidence("http-09", "nginx-good")["cookies"] == {"session (login)": "Secure; HttpOnly; SameSite=Lax"}
    assert run.evidence("http-10", "nginx-good") == {"status": 405, "echoed": False}
    # Cookie values (the session token) are never evidence.
    assert "eyJ" not in repr([r.evidence for r in run.summary.results] + [r.message for r in run.summary.results])


def test_the_page_checks_share_one_request(pytester: pytest.Pytester, sample_app_good: Instance) -> None:
    """http-02..06 and http-09 judge what GET / answers: one request per target and run, not one per check."""
    from tests.test_checks_auth import _requests_seen

    before = _requests_seen(sample_app_good)
    run = run_catalog(pytester, "test_http_security.py", targets=[sample_app_good],
                      args=["-k", "http-02 or http-03 or http-04 or http-05 or http-06 or http-09"])
    after = _requests_seen(sample_app_good)
    # The sample app serves no "/" route: its counter files GET / under "unmatched".
    gets = sum(n - before.get(key, 0) for key, n in after.items() if key[0] == "GET" and key[1] in ("/", "unmatched"))
    assert gets == 1, (before, after)
    assert {run.outcome(c, sample_app_good.name) for c in ("http-04", "http-05")} <= {"passed", "failed"}


def test_insecure_subresources_are_read_from_the_markup() -> None:
    from checks.test_http_security import insecure_subresources

    page = ('<html><head><link rel="stylesheet" href="http://cdn.example.com/a.css?key=k3y"><link rel="canonical" href="http://a.example/">'
            '<script src="//cdn.example.com/x.js"></script></head><body><img srcset="http://u:p4ss@img.example/i.png 1x, https://b.example/j.png 2x">'
            '<form action="http://a.example:8080/post"></form><a href="http://elsewhere.example/">a link is not loaded</a></body></html>')
    assert insecure_subresources(page, "https://site.example/") == [
        "<link href> http://cdn.example.com/a.css", "<img srcset> http://img.example/i.png", "<form action> http://a.example:8080/post"]
    # A plain-HTTP base makes every relative reference insecure; the base itself is one.
    assert insecure_subresources('<base href="http://site.example/"><script src="/app.js"></script>', "https://site.example/") == [
        "<base href> http://site.example/", "<script src> http://site.example/app.js"]
