"""A fleet split across CI jobs by target (``--deploycheck-shard=I/N``) and the shards' JSON
reports merged (``python -m pytest_deploycheck.merge``) decide exactly as one run over the fleet."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_deploycheck.merge import main as merge_main
from tests.test_xdist import FIXED_CHECKS

CATALOG = '''
import pytest
from pytest_deploycheck import require, not_applicable
pytestmark = pytest.mark.section("par", "Parity")

@pytest.mark.parametrize("n", range(3))
@pytest.mark.check("par-01", "Mixed", severity="medium")
def test_mixed(host, n):
    """Mixed outcomes."""
    if n == 1:
        not_applicable("odd one")
    require(n != 2 or host.name != "c", host, f"n={n}", "not 2 on c")
''' + FIXED_CHECKS + '''
@pytest.mark.check("par-05", "Files", severity="high")
def test_files(files):
    """Passes."""
    require(files.path.exists(), files, "missing", "present")

@pytest.mark.check("par-06", "Site answers", severity="high")
def test_site(http_endpoint):
    """Never runs: the fleet has no http target."""
'''

INVENTORY = ("hosts:\n" + "".join(f"  {n}: {{backend: 'local://'}}\n" for n in "abcde")
             + "files:\n  here: {path: .}\n  there: {path: .}\n")


def comparable(doc: dict[str, Any]) -> dict[str, Any]:
    """A JSON report without what differs between two identical runs (times, paths of the run)."""
    doc = json.loads(json.dumps(doc))
    for key in ("started", "finished", "duration", "python_version"):
        doc["run"].pop(key, None)
    for row in doc["results"]:
        row.pop("duration", None)
    return doc


@pytest.fixture
def fleet(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_catalog=CATALOG)
    (pytester.path / "inv.yml").write_text(INVENTORY)
    return pytester


def run(pytester: pytest.Pytester, report: str, *args: str) -> int:
    result = pytester.runpytest_subprocess("--inventory=inv.yml", "-p", "no:benchmark", "-p", "no:cacheprovider",
                                           f"--deploycheck-json={report}", *args)
    return int(result.ret)


def test_merged_shards_equal_the_single_run(fleet: pytest.Pytester, capsys: pytest.CaptureFixture[str]) -> None:
    single_exit = run(fleet, "single.json")
    shard_exits = [run(fleet, f"shard-{i}.json", f"--deploycheck-shard={i}/3") for i in (1, 2, 3)]
    single = json.loads((fleet.path / "single.json").read_text())
    shards = [json.loads((fleet.path / f"shard-{i}.json").read_text()) for i in (1, 2, 3)]

    # Each shard is a partial run that says which shard it is; together they hold every result once,
    # and every target's results are in one shard.
    for i, shard in enumerate(shards, start=1):
        assert shard["partial"] is True
        assert f"shard {i}/3 (--deploycheck-shard)" in " ".join(shard["scope"]["narrowed_by"])
    nodeids = [row["nodeid"] for shard in shards for row in shard["results"]]
    assert sorted(nodeids) == sorted(row["nodeid"] for row in single["results"])
    homes: dict[str, set[int]] = {}
    for i, shard in enumerate(shards):
        for row in shard["results"]:
            if row["target"]:
                homes.setdefault(row["target"], set()).add(i)
    assert all(len(h) == 1 for h in homes.values()), homes
    assert all(shard["results"] for shard in shards)  # dealt by load: no shard is empty

    out = fleet.path / "merged"
    status = merge_main([*(str(fleet.path / f"shard-{i}.json") for i in (1, 2, 3)), f"--json={out}.json", f"--html={out}.html",
                         f"--junitxml={out}.xml", f"--checklist-md={out}.md"])
    printed = capsys.readouterr().out
    merged = json.loads(Path(f"{out}.json").read_text())
    assert comparable(merged) == comparable(single)
    assert merged["verdict"]["level"] == "NO-GO" and merged["partial"] is False
    assert status == single_exit == 1 and 1 in shard_exits
    assert "VERDICT: NO-GO" in printed
    assert "NO-GO" in Path(f"{out}.html").read_text() and "par-02" in Path(f"{out}.html").read_text()
    xml = Path(f"{out}.xml").read_text()
    assert xml.count("<testcase") == len(single["results"]) and 'name="deploycheck.verdict" value="NO-GO"' in xml
    assert "par-02" in Path(f"{out}.md").read_text()


def test_a_missing_shard_is_no_go(fleet: pytest.Pytester, capsys: pytest.CaptureFixture[str]) -> None:
    for i in (1, 3):
        run(fleet, f"shard-{i}.json", f"--deploycheck-shard={i}/3", "-k", "not test_critical and not test_manual")
    status = merge_main([str(fleet.path / "shard-1.json"), str(fleet.path / "shard-3.json"), f"--json={fleet.path / 'm.json'}"])
    merged = json.loads((fleet.path / "m.json").read_text())
    assert status == 1
    assert merged["verdict"]["level"] == "NO-GO"
    assert "shard 2/3 sent no report; its targets were not checked" in merged["verdict"]["rule"]
    # -k narrowed every shard: the merged run stays partial, and says so.
    assert merged["partial"] is True and any("-k" in text for text in merged["scope"]["narrowed_by"])
    assert "VERDICT: NO-GO" in capsys.readouterr().out


def test_reports_of_different_inventories_are_refused(fleet: pytest.Pytester, capsys: pytest.CaptureFixture[str]) -> None:
    run(fleet, "one.json", "--deploycheck-shard=1/2")
    (fleet.path / "inv.yml").write_text(INVENTORY + "  elsewhere: {path: .}\n")
    run(fleet, "two.json", "--deploycheck-shard=2/2")
    assert merge_main([str(fleet.path / "one.json"), str(fleet.path / "two.json")]) == 4
    assert "different inventories" in capsys.readouterr().err


def test_a_bad_shard_option_is_a_usage_error(fleet: pytest.Pytester) -> None:
    result = fleet.runpytest_subprocess("--inventory=inv.yml", "-p", "no:benchmark", "--deploycheck-shard=4/3")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--deploycheck-shard*1 <= I <= N*"])


def test_the_team_checklist_merges_as_one_run(fleet: pytest.Pytester, capsys: pytest.CaptureFixture[str]) -> None:
    # A heading over two items: judged by them in the merge as in the single run.
    (fleet.path / "go-live.md").write_text(
        "# Go-live\n- [ ] **Release**\n  - [ ] Mixed outcomes\n  - [ ] Files present\n- [ ] Rollback plan tested\n"
        "- [ ] Files present, archived offsite\n- [ ] Site answers\n")
    # The last item is answered in part: par-05, and an attestation of the rest.
    (fleet.path / "go-live.deploycheck.yml").write_text(
        "version: 1\nitems:\n  go-live--mixed-outcomes: [par-01]\n  go-live--files-present: [par-05]\n"
        "  go-live--files-present-archived-offsite: {checks: [par-05], attest: archived offsite}\n"
        "  go-live--site-answers: [par-06]\n")
    checklist = "--deploycheck-checklist=go-live.md"
    run(fleet, "single.json", checklist)
    for i in (1, 2, 3):
        run(fleet, f"shard-{i}.json", checklist, f"--deploycheck-shard={i}/3")
    merge_main([*(str(fleet.path / f"shard-{i}.json") for i in (1, 2, 3)), f"--json={fleet.path / 'merged.json'}"])
    capsys.readouterr()

    def statuses(path: str) -> list[tuple[str, str, list[str], str]]:
        items = json.loads((fleet.path / path).read_text())["checklist"]["items"]
        return [(i["key"], i["status"], i["checks"], i["attest"]) for i in items]

    assert statuses("merged.json") == statuses("single.json")
    assert [s for _, s, _, _ in statuses("single.json")] == ["failed", "failed", "passed", "manual", "manual", "error"]
    assert statuses("single.json")[-2][3] == "archived offsite"
