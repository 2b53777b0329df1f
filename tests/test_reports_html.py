"""The HTML go-live report inside pytest-html's page: structure, escaping, a real browser, 5,000 results."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from tests.report_helpers import Reports, browse, write_catalog


class Sections(HTMLParser):
    """Text of every element with an id starting ``dc-``, and the pytest-html data blob."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, str | None]] = []
        self.text: dict[str, list[str]] = {}
        self.blob: dict[str, Any] = {}
        self.scripts = 0
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script":
            self.scripts += 1
            if a.get("src"):
                self.external.append(str(a["src"]))
        if tag == "link" and a.get("href"):
            self.external.append(str(a["href"]))
        if a.get("data-jsonblob"):
            self.blob = json.loads(str(a["data-jsonblob"]))
        ident = a.get("id")
        self.stack.append((tag, ident if ident and ident.startswith("dc-") else None))
        if ident and ident.startswith("dc-"):
            self.text[ident] = []

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        for _, ident in self.stack:
            if ident:
                self.text[ident].append(data)

    def section(self, ident: str) -> str:
        return " ".join(" ".join(self.text[ident]).split())


def parse(path: Path) -> Sections:
    parser = Sections()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


@pytest.fixture
def report(pytester: pytest.Pytester) -> Reports:
    reports = write_catalog(pytester)
    result = pytester.runpytest(*reports.args())
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    return reports


def test_verdict_counts_and_lists(report: Reports) -> None:
    page = parse(report.html_path)
    doc = report.json()
    verdict = page.section("dc-verdict")
    assert verdict.startswith("NO-GO NO-GO: critical/high items not met: 1 failed, 2 manual item(s) pending attestation")
    assert f"demo-env ({doc['run']['inventory']['path']}), sha256 {doc['run']['inventory']['sha256']}" in verdict
    assert f"pytest-deploycheck {doc['run']['plugin_version']}; catalog {doc['run']['catalog_digest']}" in verdict
    assert "--deploycheck-fail-on=high: exit status 1" in verdict
    assert page.blob["title"] == "NO-GO — go-live report: demo-env"
    counts = page.section("dc-counts")
    assert "By section passed failed error manual waived n/a total Demo section 5 1 2 2 2 12 Web 1 1" in counts
    assert "By severity" in counts
    assert "critical 1 1 2" in counts
    blocking = page.section("dc-blocking")
    assert blocking.startswith("Blocking items (3) Check Title Target Severity Outcome Message")
    assert "demo-02 Fails on beta beta critical failed beta (local://): observed <b>bold</b> & co; expected something else" in blocking
    assert "demo-04 A person signs alpha high manual pending attestation" in blocking
    assert "web-01 Web answers web medium error" in page.section("dc-risks")
    manual = page.section("dc-manual")
    assert "demo-04 A person signs alpha pending" in manual
    assert "demo-05 Rollback rehearsed alpha attested Ada <Lovelace> SRE lead 2026-11-01 CHG-1234 2027-02-01" in manual
    waivers = page.section("dc-waivers")
    assert "Waivers applied (1)" in waivers
    assert "W-7 demo-06 * applied replaced next sprint Grace OPS-42 2027-01-31" in waivers
    assert "Waivers that matched nothing (1)" in waivers
    assert "W-9 demo-99 * stale old <risk> Bob" in waivers
    assert "demo-03 Not here alpha low no such thing on <this> host" in page.section("dc-na")
    assert "dc-notrun" not in page.text
    filters = page.section("dc-filters")
    assert "outcome all passed failed error manual waived n/a" in filters
    assert "severity all critical high medium low info" in filters
    assert "section all Demo section Web" in filters


def result_rows(text: str) -> dict[tuple[str, str], str]:
    """The results table rendered in the page, without any script: (check, target) -> the row's HTML."""
    table = text.split('<section id="dc-results">', 1)[1].split("</section>", 1)[0]
    rows = {}
    for row in re.findall(r"<tr data-dc-outcome=.*?</tr>", table):
        check = re.search(r'<td class="col-dccheck">(.*?)</td>', row)
        target = re.search(r'<td class="col-dctarget">(.*?)</td>', row)
        assert check and target, row
        assert (check.group(1), target.group(1)) not in rows, f"two rows read the same: {row}"
        rows[(check.group(1), target.group(1))] = row
    return rows


def test_results_table_is_in_the_page_without_script(report: Reports) -> None:
    text = report.html()
    rows = result_rows(text)
    assert len(rows) == 13
    failed = rows[("demo-02", "beta")]
    assert failed.startswith('<tr data-dc-outcome="failed" data-dc-severity="critical" data-dc-section="demo">'
                             '<td class="col-dcoutcome dc-o-failed">failed</td><td class="dc-s-critical">critical</td>'
                             '<td class="col-dccheck">demo-02</td><td class="col-dctitle">Fails on beta</td>'
                             '<td class="col-dctarget">beta</td><td>Demo section</td>')
    assert "observed &lt;b&gt;bold&lt;/b&gt; &amp; co; expected something else" in failed
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in failed and "<script>alert" not in failed  # the evidence, escaped
    assert next(iter(rows)) == ("demo-02", "beta")  # problems first: a failed critical check leads
    assert rows[("demo-03", "alpha")].startswith('<tr data-dc-outcome="n/a"')
    assert "attested by Ada &lt;Lovelace&gt; on 2026-11-01" in rows[("demo-05", "alpha")]
    assert "waived: W-7, expires 2027-01-31" in rows[("demo-06", "beta")]
    # A check's rationale and references are in the page once, not once per row.
    checks = parse(report.html_path).section("dc-checks")
    assert "The rationale an auditor reads." in checks
    assert "References: CIS 1.2.3; dev-sec os-01" in checks
    assert text.count("The rationale an auditor reads.") == 1
    # Check rows are not in pytest-html's script-built table (its data blob); its counts still are.
    assert not [k for k in parse(report.html_path).blob["tests"] if k.startswith("test_catalog.py::")]
    assert re.search(r'<span class="failed">1 Failed,</span>', text)


def test_prints_completely(report: Reports) -> None:
    """On paper no list is clipped by a scroll box and every result row prints, filtered or not."""
    text = report.html()
    css = text.split("@media print", 1)[1].split("</style>", 1)[0]
    assert ".dc-box.dc-scroll{max-height:none;overflow:visible" in css
    assert "#dc-results tbody>tr{display:table-row !important}" in css
    assert ".dc-js" in css  # the filters (script-only) are not printed


def test_everything_inserted_is_escaped(pytester: pytest.Pytester) -> None:
    reports = write_catalog(pytester, catalog='''
        import pytest
        from pytest_deploycheck import fail
        EVIL = '<img src=x onerror="alert(1)"></td></tr><script>alert(2)</script>'

        @pytest.mark.section("x<y", "Section <i>italic</i>")
        @pytest.mark.check("xss-01", "Title <b>bold</b>", severity="high", refs=('<a href="javascript:alert(3)">ref</a>',))
        def test_xss(host, evidence):
            """Docstring <iframe src=javascript:alert(4)>."""
            evidence.record(**{"<key>": EVIL})
            fail(host, EVIL, EVIL)

        @pytest.mark.parametrize("v", ['<img src=x onerror="alert(5)">'], ids=['<img src=x onerror="alert(5)">'])
        def test_users_own(v):
            """A plain test with a hostile id."""
    ''')
    pytester.runpytest(*reports.args())
    text = reports.html()
    assert "onerror=\"alert" not in text
    assert "<script>alert" not in text
    assert "<iframe" not in text
    assert "<i>italic" not in text
    assert 'href="javascript' not in text
    page = parse(reports.html_path)
    assert page.external == []  # self-contained: no stylesheet or script to fetch
    dom = browse(reports.html_path, out=reports.root / "dom.html")  # after pytest-html's script built the table
    assert not re.search(r"<img[^>]*onerror|<script>alert|<iframe|<i>italic|<a href=\"javascript", dom)
    assert '<td class="col-testId">test_catalog.py::test_users_own[&lt;img src=x onerror="alert(5)"&gt;]</td>' in dom
    assert '<td class="col-dctitle">Title &lt;b&gt;bold&lt;/b&gt;</td>' in dom


def test_renders_in_chromium(report: Reports, tmp_path: Path) -> None:
    dom = browse(report.html_path, out=tmp_path / "dom.html")
    assert re.search(r'<section id="dc-verdict" class="dc-verdict dc-nogo"><div class="dc-level">NO-GO</div>', dom)
    assert dom.count('<td class="col-dccheck">') == 13
    assert '<td class="col-dccheck">demo-02</td>' in dom
    assert 'id="dc-filter-count">showing 13 of 13 rows' in dom
    failed = browse(report.html_path, out=tmp_path / "failed.html", fragment="#outcome=failed")
    assert 'id="dc-filter-count">showing 1 of 13 rows' in failed
    web = browse(report.html_path, out=tmp_path / "web.html", fragment="#section=web&severity=medium")
    assert 'id="dc-filter-count">showing 1 of 13 rows' in web
    shot = tmp_path / "report.png"
    browse(report.html_path, out=shot, screenshot=True)
    assert shot.stat().st_size > 10_000


def test_shortcut_option_and_its_conflicts(pytester: pytest.Pytester) -> None:
    reports = write_catalog(pytester)
    out = reports.root / "short" / "go-live.html"
    pytester.runpytest(f"--inventory={reports.root / 'inv.yml'}", f"--deploycheck-html={out}")
    page = parse(out)
    assert page.section("dc-verdict").startswith("NO-GO")
    assert page.external == []
    assert not (out.parent / "assets").exists()
    conflict = pytester.runpytest(f"--inventory={reports.root / 'inv.yml'}", f"--deploycheck-html={out}", "--html=other.html")
    assert conflict.ret == pytest.ExitCode.USAGE_ERROR
    conflict.stderr.fnmatch_lines(["*--deploycheck-html=* and --html=other.html both ask for an HTML report*"])
    missing = pytester.runpytest(f"--inventory={reports.root / 'inv.yml'}", f"--deploycheck-html={out}", "-p", "no:html")
    assert missing.ret == pytest.ExitCode.USAGE_ERROR
    missing.stderr.fnmatch_lines(["*--deploycheck-html needs pytest-html*"])
    without = pytester.runpytest(f"--inventory={reports.root / 'inv.yml'}", "-p", "no:html", f"--deploycheck-json={reports.json_path}")
    assert without.ret == pytest.ExitCode.TESTS_FAILED
    assert reports.json()["verdict"]["level"] == "NO-GO"


def test_five_thousand_results_stay_usable(pytester: pytest.Pytester, tmp_path: Path) -> None:
    reports = write_catalog(pytester, catalog='''
        import pytest
        from pytest_deploycheck import not_applicable, require

        @pytest.mark.section("bulk", "Bulk section")
        @pytest.mark.check("bulk-01", "Many items", severity="low")
        @pytest.mark.parametrize("n", range(5000))
        def test_many(host, evidence, n):
            """One of 5,000."""
            evidence.record(n=n)
            if n % 7 == 0:
                not_applicable(f"n={n}")
            require(n % 5, host, f"n={n} is a multiple of 5", "not a multiple of 5")
    ''', inventory='hosts:\n  me: {backend: "local://"}\n')
    result = pytester.runpytest(*reports.args())
    result.stdout.fnmatch_lines(["*857 failed, 3428 passed, 715 n/a*"])
    page = parse(reports.html_path)
    assert len(result_rows(reports.html())) == 5000
    assert reports.html_path.stat().st_size < 5_000_000  # bench/bench_reports.py prints the size
    assert "Risks (857)" in page.section("dc-risks")
    assert "Not applicable (715)" in page.section("dc-na")
    assert "outcome all passed failed n/a" in page.section("dc-filters")
    dom = browse(reports.html_path, out=tmp_path / "dom.html", fragment="#outcome=failed")
    assert 'id="dc-filter-count">showing 857 of 5000 rows' in dom
