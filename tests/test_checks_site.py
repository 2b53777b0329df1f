"""The public-site catalog (checks/test_site.py) against the sample app.

The good app's robots.txt keeps crawlers off ``/api/`` only and its front page has no
``noindex``; the bad app went live with staging's ``Disallow: /`` and a ``noindex`` meta tag.
"""

from __future__ import annotations

from typing import Any

import pytest

from checks.test_site import noindex_marks, page_metadata, robots_blocks_everything
from tests.servers.base import Instance
from tests.servers.inventory import run_catalog

CATALOG = "test_site.py"


def _http(name: str, url: str, **entry: Any) -> Instance:
    return Instance(name=name, kind="http", entry={"url": url, **entry}, env={}, server=None)


def test_site_catalog(pytester: pytest.Pytester, sample_app_good: Instance, sample_app_bad: Instance) -> None:
    good, bad = sample_app_good.entry["url"], sample_app_bad.entry["url"]
    targets = [
        _http("public-good", good),
        _http("public-bad", bad),
        _http("staging-bad", bad, indexable=False),  # the same blocks are right for a staging site
        _http("staging-open", good, indexable=False),
        _http("api-only", good + "/health"),  # a JSON answer: nothing to index
    ]
    run = run_catalog(pytester, CATALOG, targets=targets)
    outcomes = {t.name: run.outcome("site-01", t.name) for t in targets}
    assert outcomes == {"public-good": "passed", "public-bad": "failed", "staging-bad": "passed", "staging-open": "failed",
                        "api-only": "n/a"}
    assert run.message("site-01", "public-bad") == (
        f"public-bad ({bad}): search engines are told to stay away: robots.txt: User-agent: * / Disallow: /; "
        '<meta name="robots" content="noindex, nofollow">; expected no noindex and no robots.txt rule blocking the whole site '
        "(or set http.public-bad.indexable: false for a site that must stay out of search)")
    assert "nothing keeps search engines out (robots.txt 200, no noindex)" in run.message("site-01", "staging-open")
    assert "not a web page search engines would index" in run.message("site-01", "api-only")
    assert run.evidence("site-01", "public-good")["blocks"] == []
    sitemaps = {t.name: run.outcome("site-02", t.name) for t in targets}
    assert sitemaps == {"public-good": "passed", "public-bad": "failed", "staging-bad": "n/a", "staging-open": "n/a", "api-only": "n/a"}
    assert run.evidence("site-02", "public-good")["listed_in_robots"] is True
    assert run.message("site-02", "public-bad") == (
        f"public-bad ({bad}): {bad}/sitemap.xml answers 404 (robots.txt names no Sitemap); "
        "expected a sitemap at /sitemap.xml or on a Sitemap: line of robots.txt")
    metadata = {t.name: run.outcome("site-03", t.name) for t in targets}
    assert metadata == {"public-good": "passed", "public-bad": "failed", "staging-bad": "n/a", "staging-open": "n/a", "api-only": "n/a"}
    assert run.evidence("site-03", "public-good") == {"title": "Sample app", "description": "The deploycheck sample application.",
                                                       "icon": f"{good}/static/icon.png", "icon_status": 200}
    assert run.message("site-03", "public-bad") == (
        f"public-bad ({bad}): the title is a default: 'React App'; no <meta name=\"description\">; the icon {bad}/favicon.ico answers 404 "
        '(no <link rel="icon">); expected a title of its own, a meta description and an icon answering 200')
    # security.txt (RFC 9116): the good app's is current, the bad one's expired long ago.
    disclosure = {t.name: run.outcome("site-04", t.name) for t in targets}
    assert disclosure == {"public-good": "passed", "public-bad": "failed", "staging-bad": "n/a", "staging-open": "n/a", "api-only": "n/a"}
    assert run.evidence("site-04", "public-good")["contact"] == ["mailto:security@example.com"]
    assert run.message("site-04", "public-bad") == (
        f"public-bad ({bad}): {bad}/.well-known/security.txt: it expired on 2024-01-01; "
        "expected a Contact: and an Expires: within the coming year (RFC 9116)")


@pytest.mark.parametrize(("text", "problems"), [
    ("Contact: mailto:a@example.com\nExpires: 2027-03-01T00:00:00Z\n", []),
    ("Contact: mailto:a@example.com\nExpires: 2029-01-01T00:00:00Z\n", ["Expires: 2029-01-01 is more than a year ahead"]),
    ("Contact: mailto:a@example.com\nExpires: 2026-11-01T00:00:00+00:00\n", ["it expired on 2026-11-01"]),
    ("Expires: 2027-03-01T00:00:00Z\n", ["no Contact: field"]),
    ("Contact: https://example.com/report\nExpires: tomorrow\n", ["Expires: 'tomorrow' is not an RFC 3339 date"]),
    ("Contact: mailto:a@example.com\nExpires: 2027-03-01T00:00:00\n", ["Expires: 2027-03-01T00:00:00 has no time zone"]),
    ("# signed\n-----BEGIN PGP SIGNED MESSAGE-----\nContact: mailto:a@example.com\n", ["no Expires: field"]),
])
def test_security_txt_rules(text: str, problems: list[str]) -> None:
    import datetime as dt

    from checks.test_site import security_txt_fields, security_txt_problems

    now = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)
    assert security_txt_problems(security_txt_fields(text), now) == problems


@pytest.mark.parametrize(("text", "blocked"), [
    ("User-agent: *\nDisallow: /\n", True),
    ("User-agent: *\nDisallow: /\nAllow: /\n", False),  # undone
    ("User-agent: *\nDisallow: /admin\n", False),
    ("User-agent: *\nDisallow:\n", False),  # an empty Disallow allows everything
    ("User-agent: Googlebot\nDisallow: /\n", False),  # one crawler only
    ("User-agent: Googlebot\nUser-agent: *\nDisallow: /  # staging\n", True),  # a group for several agents
    ("User-agent: *\nAllow: /\n\nUser-agent: BadBot\nDisallow: /\n", False),
    ("", False),
])
def test_robots_rules(text: str, blocked: bool) -> None:
    assert (robots_blocks_everything(text) is not None) == blocked


def test_noindex_marks() -> None:
    assert noindex_marks({"x-robots-tag": "googlebot: noindex"}, "") == ["X-Robots-Tag: googlebot: noindex"]
    assert noindex_marks({}, "<meta name='robots' content='index, follow'>") == []
    assert noindex_marks({}, '<META CONTENT="NOINDEX" NAME="ROBOTS">') == ['<meta name="ROBOTS" content="NOINDEX">']
    assert noindex_marks({}, '<meta name="description" content="noindex is a word">') == []


def test_page_metadata_reader() -> None:
    html = """<html><head><TITLE>
      Shop  | Example</TITLE><meta content="Fresh bread" name=description>
    <link rel="apple-touch-icon" href="/a.png"><link href="/favicon.svg" rel="shortcut icon"></head></html>"""
    assert page_metadata(html) == ("Shop | Example", "Fresh bread", ["/favicon.svg"])
    assert page_metadata("<html><body>no head</body></html>") == (None, None, [])
    assert page_metadata('<meta name="description" content="  ">')[1] == ""
