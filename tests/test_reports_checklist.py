"""The ticked Markdown checklist: section by section, ticks that match the outcomes."""

from __future__ import annotations

import re
from collections import defaultdict

import pytest

from tests.report_helpers import write_catalog

ITEM = re.compile(r"^- \[(?P<tick>[ x])\] (?P<strike>~~)?\*\*(?P<id>[a-z0-9-]+)\*\*")
SUB = re.compile(r"^  - \[(?P<tick>[ x])\] (?:~~)?(?P<target>[^:~]+)(?:~~)?: (?P<why>.*)$")


def parse(md: str) -> dict[str, dict[str, object]]:
    items: dict[str, dict[str, object]] = {}
    section = ""
    current: dict[str, object] | None = None
    for line in md.splitlines():
        if line.startswith("## "):
            section = line[3:]
        elif m := ITEM.match(line):
            current = items[m["id"]] = {"ticked": m["tick"] == "x", "struck": bool(m["strike"]), "section": section,
                                        "line": line, "targets": {}}
        elif (m := SUB.match(line)) and current is not None:
            current["targets"][m["target"]] = (m["tick"] == "x", m["why"])  # type: ignore[index]
    return items


def test_ticks_match_outcomes(pytester: pytest.Pytester) -> None:
    reports = write_catalog(pytester)
    pytester.runpytest(*reports.args())
    md = reports.md()
    doc = reports.json()
    items = parse(md)
    outcomes: dict[str, list[str]] = defaultdict(list)
    for r in doc["results"]:
        outcomes[r["id"]].append(r["outcome"])
    assert set(items) == set(outcomes)
    for check_id, seen in outcomes.items():
        assert items[check_id]["ticked"] == all(o == "passed" for o in seen), check_id
        assert items[check_id]["struck"] == all(o == "n/a" for o in seen), check_id

    assert md.startswith("# Go-live checklist: demo-env\n")
    assert "**Verdict: NO-GO** — NO-GO: critical/high items not met" in md
    assert [line for line in md.splitlines() if line.startswith("## ")] == ["## Demo section", "## Web", "## Waivers"]
    assert items["web-01"]["section"] == "Web"
    assert items["web-01"]["line"] == ("- [ ] **web-01** Web answers *(medium)* — error on web: "
                                       "`web (http://127.0.0.1:9/): cannot connect to 127.0.0.1:9: connection refused`")
    fail = items["demo-02"]
    assert "met on 1 of 2 targets" in str(fail["line"])
    assert fail["targets"] == {"alpha": (True, "passed"),  # type: ignore[comparison-overlap]
                               "beta": (False, "failed: `beta (local://): observed <b>bold</b> & co; expected something else`")}
    manual = items["demo-04"]["targets"]
    pending = "pending attestation (no attestation recorded); to do: Ask the SRE lead"
    assert manual == {"alpha": (False, pending), "beta": (False, pending)}  # type: ignore[comparison-overlap]
    attested = items["demo-05"]
    assert attested["ticked"]
    assert attested["targets"]["alpha"] == (True, "attested by Ada \\<Lovelace\\> (SRE lead) on 2026-11-01; evidence: CHG-1234; "  # type: ignore[index]
                                             "expires 2027-02-01")
    waived = items["demo-06"]["targets"]["beta"]  # type: ignore[index]
    assert waived[0] is False
    assert waived[1].startswith("waived (W-7, approved by Grace, until 2027-01-31): replaced next sprint")
    na = items["demo-03"]
    assert na["struck"]
    assert not na["ticked"]
    assert "not applicable on all 2 targets" in str(na["line"])
    assert na["targets"]["alpha"] == (False, "not applicable: `no such thing on <this> host`")  # type: ignore[index]
    assert "- **W-9** (stale) demo-99 on \\*: old \\<risk\\> — approved by Bob, ticket OPS-1, expires 2027-01-01" in md


def test_markdown_cannot_be_injected(pytester: pytest.Pytester) -> None:
    reports = write_catalog(pytester, catalog='''
        import pytest
        from pytest_deploycheck import fail
        @pytest.mark.check("md-01", "Title with *stars*, _under_ and [a](http://x) <img src=x>", severity="low")
        def test_md(host):
            """Markdown in every field."""
            fail(host, "`code` ``more`` [link](http://evil) <script>x</script>\\n- [x] fake item\\n# fake heading", "plain")
    ''')
    pytester.runpytest(*reports.args())
    md = reports.md()
    assert "\n- [x] fake item" not in md
    assert "\n# fake heading" not in md
    line = next(line for line in md.splitlines() if line.startswith("  - [ ] alpha"))
    assert line == ("  - [ ] alpha: failed: ``` alpha (local://): `code` ``more`` [link](http://evil) <script>x</script> "
                    "- [x] fake item # fake heading; expected plain ```")
    head = next(line for line in md.splitlines() if line.startswith("- [ ] **md-01**"))
    assert "Title with \\*stars\\*, \\_under\\_ and \\[a\\](http://x) \\<img src=x\\>" in head
