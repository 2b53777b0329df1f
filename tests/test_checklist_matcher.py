"""The checklist parser and matcher: what counts as an item, and what an item is (and is not) matched to.

The matcher runs on the catalog's own phrases (``answers=`` on every check), read the way a run reads
them: from ``pytest --deploycheck-list=json``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_deploycheck.checklist.matcher import Vocabulary, compile_phrase, match_checklist, vocabulary_from_mapping
from pytest_deploycheck.checklist.normalise import tokens
from pytest_deploycheck.checklist.parse import MAX_BYTES, ChecklistError, parse_bytes, parse_file, parse_text, plain_text
from pytest_deploycheck.checklist.words import read, same_word
from tests.servers.inventory import REPO

SAMPLES = REPO.parent / "shared" / "checklists"


# ------------------------------------------------------------------------------------------ parser


def texts(md: str) -> list[str]:
    return [i.plain for i in parse_text(md).items]


def test_bullet_styles_and_numbered_items() -> None:
    md = "- [ ] dash\n* [x] star\n+ [X] plus\n1. [ ] numbered\n2) [ ] paren numbered\n- plain bullet\n"
    items = parse_text(md).items
    assert [i.plain for i in items] == ["dash", "star", "plus", "numbered", "paren numbered"]
    assert [i.checked for i in items] == [False, True, True, False, False]
    assert [i.line for i in items] == [1, 2, 3, 4, 5]


def test_boxes_as_other_editors_write_them() -> None:
    """A bare "[ ] item" (plain-text lists), in-progress marks ("- [-]", "- [/]", "- [~]") and a
    forgotten space are boxes too; only x and the ticks are done.  A link or a reference
    definition is not a box."""
    md = ("## A\n[ ] Bare brackets item\n- [-] In progress\n- [/] Half done\n- [~] Tilde\n- [ ]No space\n"
          "- [ ] [Runbook](https://runbook.example) linked\n[x]: https://ref.example\n[ ](https://x.example) a link\n")
    assert [(i.plain, i.checked) for i in parse_text(md).items] == [
        ("Bare brackets item", False), ("In progress", False), ("Half done", False), ("Tilde", False), ("No space", False),
        ("Runbook linked", False)]


def test_lists_quoted_pasted_or_lettered() -> None:
    """A list inside a block quote, bullets pasted from a word processor and lettered steps."""
    md = "## A\n> - [ ] Quoted item\n• [ ] Bullet dot item\n◦ [ ] Hollow item\na) [ ] Lettered item\n> Note: quoted prose\n"
    assert texts(md) == ["Quoted item", "Bullet dot item", "Hollow item", "Lettered item"]
    assert texts("## Launch\n• Backups nightly\n• TLS valid\n") == ["Backups nightly", "TLS valid"]  # no box anywhere: read line by line
    # Outline numbering, as formal checklists write it.
    assert texts("## A\n1.1 [ ] Dotted\n1.2. [ ] Dotted with dot\n(3) [ ] Parenthesised\n") == [
        "Dotted", "Dotted with dot", "Parenthesised"]


def test_a_bold_line_is_a_heading_under_the_current_one() -> None:
    """Notion, Confluence and Google Docs export a heading as a bold line; a bold sentence stays prose."""
    md = ("# Go-live\n**Security**\n- [ ] Certificates valid\n__Database:__\n- [ ] Backups nightly\n"
          "**Note: freeze deploys first.**\n- [ ] Alerts configured\n## Sign-off\n- [ ] QA lead\n")
    assert [(i.plain, i.section) for i in parse_text(md).items] == [
        ("Certificates valid", ("Go-live", "Security")), ("Backups nightly", ("Go-live", "Database")),
        ("Alerts configured", ("Go-live", "Database")), ("QA lead", ("Go-live", "Sign-off"))]


def test_a_wrapped_item_keeps_its_second_line() -> None:
    md = "## A\n- [ ] Backups configured and\n  verified nightly\n- [ ] TLS valid\n  - [ ] nested item\n"
    items = parse_text(md).items
    assert [(i.plain, i.line, i.key) for i in items] == [
        ("Backups configured and verified nightly", 2, "a--backups-configured-and"),  # the key stays the first line's
        ("TLS valid", 4, "a--tls-valid"), ("nested item", 5, "a--nested-item")]


def test_a_plain_list_line_over_boxes_heads_them() -> None:
    """"1. Security" over its own boxes is their heading, until the list goes back to its indent or a
    paragraph, table or heading ends it; a plain line with no box under it stays unread."""
    md = ("# Go-live\n1. Security\n   - [ ] Certificates valid\n2. Database:\n   - [ ] Backups nightly\n"
          "     - [ ] Restore tested\n3. Plain step\n- [ ] Top level item\n## Other\n- Notes\n  - [ ] Nested\n"
          "Paragraph\n- [ ] After paragraph\n")
    items = parse_text(md).items
    assert [(i.plain, i.section, i.parent) for i in items] == [
        ("Certificates valid", ("Go-live", "Security"), None),
        ("Backups nightly", ("Go-live", "Database"), None),
        ("Restore tested", ("Go-live", "Database"), "database--backups-nightly"),
        ("Top level item", ("Go-live",), None),
        ("Nested", ("Go-live", "Other", "Notes"), None),
        ("After paragraph", ("Go-live", "Other"), None)]


@pytest.mark.parametrize("header", ["Done?", "Status (Y/N)", "Complete?", "OK?", "Checked ✓", "Status ✅", "✓/✗", "Verified?",
                                    "Ready?", "Yes / No", "Go/No-Go", "Pass?", "Met?", "Compliant (Y/N)", "In place?"])
def test_a_status_column_as_teams_head_it(header: str) -> None:
    assert texts(f"## A\n| Check | {header} |\n|---|---|\n| Backups nightly | |\n") == ["Backups nightly"]


def test_a_table_of_items_without_a_status_column_is_named_in_a_warning() -> None:
    md = ("## A\n- [ ] Boxed item\n## B\n| # | Item | Owner |\n|---|---|---|\n| 1 | Backups nightly | Bob |\n"
          "| 2 | TLS valid | Ann |\n## C\n| Metric | Threshold |\n|---|---|\n| CPU | 80% |\n")
    checklist = parse_text(md)
    assert texts(md) == ["Boxed item"]
    assert checklist.warnings == ("<text>:6: 2 rows of a table with an item column but no status column not read as items "
                                  "(first under 'B'); add a Status column, or write each as '- [ ] ...', to have them checked",)


def test_front_matter_is_not_a_heading() -> None:
    """A docs site's YAML or TOML front matter is metadata; a rule over the first items is not front matter."""
    assert [(i.plain, i.section) for i in parse_text("---\ntitle: Go-live\n---\n- [ ] Top item\n").items] == [("Top item", ())]
    assert [(i.plain, i.section) for i in parse_text('+++\ntitle = "x"\n+++\n# H\n- [ ] T\n').items] == [("T", ("H",))]
    assert texts("---\n\n- [ ] After a rule\n---\n- [ ] Second\n") == ["After a rule", "Second"]


def test_a_box_at_the_end_of_a_list_line() -> None:
    md = "## A\n- [ ] Normal\n- Backups nightly [ ]\n1. TLS valid [x]\n- Redis password ☐\n- See [docs] for more\n"
    assert [(i.plain, i.checked) for i in parse_text(md).items] == [
        ("Normal", False), ("Backups nightly", False), ("TLS valid", True), ("Redis password", False)]
    assert [(i.plain, i.checked) for i in parse_text("## A\nBackups nightly: [ ]\nTLS valid ☐\nRedis password [x]\n").items] == [
        ("Backups nightly", False), ("TLS valid", False), ("Redis password", True)]  # without a bullet too


def test_status_marks_are_boxes() -> None:
    """Some teams mark items with status emoji instead of boxes, with or without a bullet; a
    legend that names the marks is not an item."""
    md = "## Infra\n✅ Backups nightly\n- ❌ WAF rules deployed\n⬜ Redis persistence\n- ✔️ HSTS set\n✅ done, ❌ open\n"
    items = parse_text(md).items
    assert [(i.plain, i.checked, i.section) for i in items] == [
        ("Backups nightly", True, ("Infra",)), ("WAF rules deployed", False, ("Infra",)),
        ("Redis persistence", False, ("Infra",)), ("HSTS set", True, ("Infra",))]


def test_nested_items_record_depth_and_parent() -> None:
    md = "# S\n- [ ] Resource monitoring\n  - [ ] CPU alerts\n    - [ ] at 90%\n  - [ ] Disk alerts\n- [ ] Other\n"
    items = parse_text(md).items
    by_text = {i.plain: i for i in items}
    assert by_text["CPU alerts"].depth == 1
    assert by_text["CPU alerts"].parent == by_text["Resource monitoring"].key
    assert by_text["at 90%"].parent == by_text["CPU alerts"].key
    assert by_text["Disk alerts"].parent == by_text["Resource monitoring"].key
    assert by_text["Other"].parent is None
    assert by_text["Other"].depth == 0


def test_tab_indented_nesting() -> None:
    items = parse_text("- [ ] parent\n\t- [ ] child\n").items
    assert items[1].parent == items[0].key


def test_fenced_code_and_html_comments_are_ignored() -> None:
    md = (
        "# S\n- [ ] real one\n```bash\n- [ ] in backticks\n```\n~~~\n- [ ] in tildes\n~~~\n"
        "  ```\n  - [ ] indented fence\n  ```\n<!-- - [ ] hidden -->\n<!--\n- [ ] hidden block\n-->\n- [ ] real two\n"
        "````\n```\n- [ ] inside a longer fence\n````\n"
    )
    assert texts(md) == ["real one", "real two"]


def test_unclosed_fence_warns() -> None:
    checklist = parse_text("- [ ] before\n```\n- [ ] after\n")
    assert [i.plain for i in checklist.items] == ["before"]
    assert any("never closed" in w for w in checklist.warnings)


def test_atx_and_setext_headings_make_the_section_path() -> None:
    md = (
        "Go-live\n=======\n\nDatabase\n--------\n- [ ] backups\n### Postgres ###\n- [ ] tls\n"
        "## Web\n- [ ] hsts\n\n- [ ] item\n---\n- [ ] after a rule\n"
    )
    items = {i.plain: i.section for i in parse_text(md).items}
    assert items["backups"] == ("Go-live", "Database")
    assert items["tls"] == ("Go-live", "Database", "Postgres")
    assert items["hsts"] == ("Go-live", "Web")
    # '---' under a list item is a thematic break, not a setext heading.
    assert items["after a rule"] == ("Go-live", "Web")


def test_signoff_lines_with_blanks_are_items() -> None:
    md = (
        "## Sign-off\nEngineering Lead: ______\n- Approved by: ____ Date: ____\n**QA Sign-off**: _____\n"
        "**Last Updated:** _______\nDeployment Date: ______\n| Role | Name | Status |\n|---|---|---|\n"
        "| Security | _____ | [ ] |\n| Metric | Target |\n"
    )
    items = parse_text(md).items
    assert [(i.kind, i.plain) for i in items] == [
        ("signoff", "Engineering Lead: ____"),
        ("signoff", "Approved by: ____ Date: ____"),
        ("signoff", "QA Sign-off: ____"),
        ("table", "Security"),
    ]
    assert items[0].checked is None


def test_rows_of_a_table_with_a_status_column_are_items() -> None:
    """A go/no-go table: every row whose status cell is there is a task, filled in or not; the
    owner, notes and row number are not what the item says."""
    md = (
        "## Go/No-Go\n| # | Check | Owner | Notes | Status |\n|---|---|---|---|---|\n"
        "| 1 | Is the TLS certificate valid? | SRE | renewed in May | |\n"
        "| 2 | Redis password set | DBA | | ✅ |\n"
        "| 3 | Rollback rehearsed | Dev | | pending |\n"
        "| 4 | Backups nightly | Ops |\n"  # no status cell: not a row to check
        "\n| Metric | Target |\n|---|---|\n| p95 latency | 300 ms |\n"  # no status column: not items
    )
    items = parse_text(md).items
    assert [(i.kind, i.plain, i.checked) for i in items] == [
        ("task", "Is the TLS certificate valid?", False),
        ("task", "Redis password set", True),
        ("task", "Rollback rehearsed", None),
    ]
    assert parse_text(md).warnings == ()


def test_an_area_column_is_a_section_of_its_own() -> None:
    """| # | Area | Check | Owner | Status |: the area sorts the rows; it is not what a row says."""
    md = ("# Go / No-Go\n| # | Area | Check | Owner | Status |\n|---|---|---|---|---|\n"
          "| 1 | Security | WAF rules enabled | SecOps | |\n| 2 | Obs | Alerts routed to on-call | SRE | ✅ |\n| 3 | | TLS valid | SRE | |\n")
    items = parse_text(md).items
    assert [(i.section, i.plain, i.checked) for i in items] == [
        (("Go / No-Go", "Security"), "WAF rules enabled", False),
        (("Go / No-Go", "Obs"), "Alerts routed to on-call", True),
        (("Go / No-Go",), "TLS valid", False),  # no area: the heading alone
    ]
    # A gate or a phase sorts rows as an area does.
    gates = parse_text("| Gate | Criterion | Evidence | Pass? |\n|---|---|---|---|\n| G1 Build | Pipeline green | CI link | |\n").items
    assert [(i.section, i.plain, i.checked) for i in gates] == [(("G1 Build",), "Pipeline green", False)]
    # Where the area column is all a row says, it names the item.
    assert [i.plain for i in parse_text("| Component | Status |\n|---|---|\n| Redis | ✅ |\n").items] == ["Redis"]


def test_an_empty_box_typed_without_its_space_is_an_open_item() -> None:
    md = "## A\n- [] Firewall on\n- [ ] TLS valid\nThe API returns [] when empty.\n"
    assert [(i.plain, i.checked) for i in parse_text(md).items] == [("Firewall on", False), ("TLS valid", False)]


def test_a_table_without_outer_pipes_is_a_table() -> None:
    """GFM lets a table leave out its outer pipes; a row's missing last cell is an empty one."""
    md = ("## Security\nCheck | Owner | Result\n--- | --- | ---\nTLS valid | ops | ✅\nBackups nightly | dba |\n"
          "Redis password set | ops | ❌\n\nA paragraph | with a pipe.\n- [ ] After the table\n")
    assert [(i.plain, i.checked) for i in parse_text(md).items] == [
        ("TLS valid", True), ("Backups nightly", False), ("Redis password set", None), ("After the table", False)]
    # A delimiter row of another width is no table's: "Backend | Frontend" over "---" is a heading.
    items = parse_text("Backend | Frontend\n---\n- [ ] API deployed\n").items
    assert [(i.section, i.plain) for i in items] == [(("Backend | Frontend",), "API deployed")]


def test_a_signature_column_makes_every_row_someone_to_sign() -> None:
    """Markdown sign-off tables often leave the cells empty rather than write blanks."""
    md = ("## Approvals\n| Role | Name | Signature | Date |\n|---|---|---|---|\n| Engineering Manager | | | |\n"
          "| Security | Ada Lovelace | AL | 2026-11-30 |\n")
    assert [(i.kind, i.plain, i.checked) for i in parse_text(md).items] == [
        ("table", "Engineering Manager", False), ("table", "Security", True)]  # the signer's name is not what the row names


def test_struck_through_items_are_named_in_a_warning_not_read() -> None:
    md = "# Infra\n- [ ] ~~Set up Memcached~~ (dropped, we use Redis)\n- [ ] Redis password set\n- [ ] Logs ~~rotated~~ shipped\n"
    checklist = parse_text(md, "launch.md")
    assert [i.plain for i in checklist.items] == ["Redis password set", "Logs rotated shipped"]  # a struck word is still an item
    assert checklist.warnings == ("launch.md:2: 1 struck-through item not read (line 2): taken off the list; remove the ~~ ~~ to "
                                  "check it",)


def test_a_list_without_any_box_is_read_line_by_line_with_a_warning() -> None:
    md = "# Launch\n\n## Data\n- Backups nightly\n  - restore tested\n1. Rollback plan?\n\nSome prose.\n"
    checklist = parse_text(md, "launch.md")
    assert [(i.kind, i.plain, i.depth, i.section) for i in checklist.items] == [
        ("task", "Backups nightly", 0, ("Launch", "Data")),
        ("task", "restore tested", 1, ("Launch", "Data")),
        ("task", "Rollback plan?", 0, ("Launch", "Data")),
    ]
    assert checklist.items[1].parent == checklist.items[0].key
    assert checklist.warnings == ("launch.md: no task boxes ('- [ ]'), sign-off blanks or status columns: every list line "
                                  "was read as an item",)
    # With one box in the file, plain bullets stay notes.
    assert [i.plain for i in parse_text(md + "- [ ] Sign-off collected\n").items] == ["Sign-off collected"]


def test_list_lines_of_sections_without_boxes_are_named_in_a_warning() -> None:
    """In a file with boxes, a section written as plain bullets or numbered steps is not read (a
    procedure's steps look the same), but the team is told where, not left to find out."""
    md = ("# Launch\n## Before the cutover\n1. Confirm RAILS_ENV=production\n2. Assets precompiled\n"
          "## Security\n- [ ] CSRF protection enabled\n  - see the wiki\n## Day 1\n- Alerts page the on-call\n")
    checklist = parse_text(md, "launch.md")
    assert [i.plain for i in checklist.items] == ["CSRF protection enabled"]
    assert checklist.warnings == (
        "launch.md:3: 3 list lines without a task box, in sections with no other item, not read as items "
        "(line 3 'Before the cutover': 2; line 9 'Day 1': 1); write an item as '- [ ] ...' to have it checked",)


def test_a_ticked_row_under_a_status_column_is_a_task_without_its_owner() -> None:
    md = ("## Capacity\n| Check | Owner | Done |\n|---|---|---|\n| Memory headroom of at least 30% | Ops | [ ] |\n"
          "\n## Sign-off\n| Role | Name | Done |\n|---|---|---|\n| Security | _____ | [ ] |\n"
          "\n| Team | Signature |\n|---|---|\n| Security | [ ] |\n")
    assert [(i.kind, i.plain) for i in parse_text(md).items] == [
        ("task", "Memory headroom of at least 30%"),  # the owner is not what the item says
        ("table", "Security"),  # a blank to fill in: a row to sign
        ("table", "Security"),  # only the aside column says what: kept
    ]


def test_markdown_stripped_for_matching_original_kept() -> None:
    md = "- [ ] **Set** `JWT_SECRET` via [vault](https://x.example/a_(b)) and _rotate_ it ~~now~~\n"
    item = parse_text(md).items[0]
    assert item.text.startswith("**Set** `JWT_SECRET`")
    assert item.plain == "Set JWT_SECRET via vault and rotate it now"
    assert plain_text("snake_case_name stays") == "snake_case_name stays"
    # Layout HTML goes; a placeholder in angle brackets is the team's words.
    assert plain_text("TLS <b>on</b><br/>everywhere") == "TLS on everywhere"
    assert plain_text("Export files named <date>_<feed>.csv") == "Export files named <date>_<feed>.csv"


def test_keys_are_slugs_deduplicated_in_order() -> None:
    md = "## 🔐 Security\n- [ ] TLS enabled\n- [ ] TLS enabled\n## Other\n- [ ] TLS enabled\n"
    keys = [i.key for i in parse_text(md).items]
    assert keys == ["security--tls-enabled", "security--tls-enabled-2", "other--tls-enabled"]
    assert keys == [i.key for i in parse_text(md).items]  # stable


def test_crlf_and_cr_line_endings() -> None:
    items = parse_text("# A\r\n- [ ] one\r\n- [ ] two\r- [x] three").items
    assert [(i.plain, i.line) for i in items] == [("one", 2), ("two", 3), ("three", 4)]


def test_encodings() -> None:
    assert parse_bytes("\ufeff- [ ] café".encode()).items[0].plain == "café"
    assert parse_bytes("- [ ] café".encode("utf-16")).items[0].plain == "café"
    latin = parse_bytes("- [ ] caf\xe9 \x93quoted\x94".encode("latin-1"))
    assert latin.encoding == "cp1252"
    assert latin.items[0].plain == "café “quoted”"
    assert latin.warnings


def test_binary_and_oversized_input_refused(tmp_path: Path) -> None:
    with pytest.raises(ChecklistError, match="binary"):
        parse_bytes(b"- [ ] x\x00\x00")
    big = tmp_path / "big.md"
    big.write_bytes(b"- [ ] x\n" * (MAX_BYTES // 8 + 1))
    with pytest.raises(ChecklistError, match="at most"):
        parse_file(big)


def test_no_items_is_a_clear_error() -> None:
    with pytest.raises(ChecklistError, match=r"no checklist items found.*- \[ \]"):
        parse_text("# Notes\n\nJust prose.\n```\n- [ ] only in code\n```\n", "notes.md")


def test_long_lines_are_bounded() -> None:
    item = parse_text("- [ ] " + "word " * 5000).items[0]
    assert len(item.text) < 2100


# ------------------------------------------------------------------------------------------ normalisation


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("SSL certificate", "TLS certs"),
        ("PostgreSQL DB", "postgres database"),
        ("k8s network policies", "Kubernetes NetworkPolicy"),
        ("authorisation", "authorization"),
        ("Rate-limiting", "rate limits"),
        ("Let's Encrypt", "letsencrypt"),
        ("Role-based access control", "RBAC"),
        ("cache hit rate", "cache hit ratio"),
        ("config.force_ssl", "force SSL"),  # a setting's path is not "configured"
        ("settings.DEBUG", "DEBUG"),
    ],
)
def test_spellings_normalise_alike(a: str, b: str) -> None:
    assert tokens(a) == tokens(b)


def test_phrase_words_join_like_item_words() -> None:
    phrase = compile_phrase("rate limit api? endpoint|route?")
    assert [s.alternatives for s in phrase.required] == [(("ratelimit",),)]
    with pytest.raises(ValueError, match="no required word"):
        compile_phrase("tls?")


# ------------------------------------------------------------------------------------------ matcher


@pytest.fixture(scope="module")
def catalog() -> list[dict[str, object]]:
    out = subprocess.run([sys.executable, "-m", "pytest", "--deploycheck-list=json", "-p", "no:cacheprovider", "-q"], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout
    document = json.JSONDecoder().raw_decode(out[out.index("{"):])[0]
    return list(document["checks"])


@pytest.fixture(scope="module")
def vocab(catalog: list[dict[str, object]]) -> Vocabulary:
    entries = {str(c["id"]): {"phrases": c["answers"], "kind": c["answers_kind"], "unless": c["answers_unless"],
                              "accepts": c["answers_accepts"]} for c in catalog if c["answers"]}
    return vocabulary_from_mapping({"checks": entries}, "the catalog")


def ids(vocab: Vocabulary, text: str, section: str = "Checks", planned: bool = False) -> list[str]:
    results = match_checklist(parse_text(f"## {section}\n- [ ] {text}\n").items, vocab)
    return list(results[0].check_ids) + ([f"planned:{m.check_id}" for m in results[0].planned] if planned else [])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SSL certificates installed and valid", {"tls-01", "tls-02", "tls-03"}),
        ("Certificate expires in more than 30 days", {"tls-03", "tls-04"}),
        ("HSTS header set", {"http-02"}),
        ("Redis requires a password", {"redis-01"}),
        ("PostgreSQL connections use TLS", {"pg-01"}),
        ("Root login over SSH disabled", {"ssh-03"}),
        ("Automatic security updates enabled", {"os-01"}),
        ("Nightly database backups configured", {"bk-01"}),
        ("Backups are encrypted", {"bk-03"}),
        ("Rollback plan documented", {"dr-01"}),
        ("Rollback tested in staging", {"dr-02"}),
        ("RTO and RPO agreed", {"dr-05"}),
        ("Log rotation configured for app logs", {"host-06"}),
        ("CORS restricted to our domains", {"cfg-06", "http-08"}),
        ("NODE_ENV set to production", {"cfg-02"}),
        ("Incident response plan documented", {"doc-02"}),
        ("Slow query log enabled", {"mysql-09", "pg-10"}),
        ("Liveness and readiness probes defined", {"k8s-02"}),
        ("PodDisruptionBudget in place", {"k8s-04"}),
        ("Resource requests and limits set for every container", {"comp-03", "k8s-01"}),
        ("Cookies marked Secure and HttpOnly", {"http-09"}),
        ("Security headers (CSP, X-Frame-Options) configured", {"http-02", "http-03", "http-04", "http-05", "http-06"}),
        ("DR runbook reviewed", {"dr-06"}),
        ("All CI checks green", {"rel-01"}),
        ("No alerts firing", {"mon-06"}),
        ("CPU usage alerts", {"mon-05"}),
        ("Database passwords changed from defaults", {"pg-04", "mysql-18"}),
        ("Set secure DB_PASSWORD (min 16 characters, mixed case + symbols)", {"cfg-09"}),
        ("No tables without primary keys", {"mysql-14", "pg-18"}),
        ("Migrations up to date", {"mysql-17", "pg-14"}),
        ("Statement timeout set for the app user", {"mysql-12", "pg-09"}),
        ("pg_stat_statements enabled", {"pg-17"}),
        ("Postgres port not published to the host", {"comp-07"}),
        ("Server header hides nginx version", {"http-07"}),
        ("Service runs at least 2 replicas", {"k8s-03", "k8s-20"}),  # not PostgreSQL's replicas (pg-16)
        ("Horizontal autoscaling min 2 max 10", {"k8s-05"}),
        ("Standby in sync", {"pg-16"}),
        ("Memory headroom OK", {"os-11"}),
        ("Memory usage below 80%", {"os-11"}),
        ("No out of memory errors", {"os-12"}),
        ("OOM killer has not fired", {"os-12"}),
        ("No pods OOMKilled", {"k8s-21"}),
        ("Sidekiq dead set reviewed and empty", {"wrk-07"}),
        ("Sidekiq queue latency under 5 minutes", {"wrk-06"}),
        ("Sidekiq queues not backing up", {"wrk-06"}),
        ("Sidekiq processes up", {"wrk-01"}),
        ("Dead jobs reviewed", {"wrk-07"}),
        ("ALLOWED_HOSTS restricted", {"http-11"}),
        ("Host header injection prevented", {"http-11"}),
        ("Site reachable over HTTPS with valid cert", {"tls-01"}),
        ("Secrets not committed to git", {"cfg-10"}),
        ("No hardcoded credentials in the code", {"cfg-10"}),
        ("No secrets baked into images", {"dock-04"}),
        ("Data encrypted in transit", {"http-01", "mysql-01", "pg-01", "redis-09", "wrk-14"}),  # each kind of connection the inventory holds
        ("HTTP/2 enabled", {"http-12"}),
        ("Uptime monitoring set up", {"mon-11"}),
        ("External uptime probe (Pingdom/blackbox)", {"mon-11"}),
        ("Disk space above 20% free on all nodes", {"os-08"}),
        ("Full certificate chain served (intermediate included)", {"tls-01"}),
        ("CPU and memory requests/limits set", {"comp-03", "k8s-01"}),
        ("HorizontalPodAutoscaler configured", {"k8s-05"}),
        ("NetworkPolicies restrict traffic", {"k8s-15"}),
        ("Dockerfile has HEALTHCHECK", {"dock-02"}),  # the image's, not the pod's probes or the compose service's
        ("File transfer checksums verified", {"batch-05"}),
        ("Alerts page the on-call engineer, not just email", {"mon-08"}),
        ("Alert when the Sidekiq queue latency exceeds 5 minutes", {"mon-05"}),
        ("npm audit shows no high severity vulnerabilities", {"rel-04"}),
        ("Redis replica in sync", {"redis-11"}),
        ("MySQL: binary logging on, replica in sync", {"mysql-19", "mysql-20"}),  # not PostgreSQL's replica nor Redis's
        ("MySQL sql_mode is strict", {"mysql-21"}),
        ("Character set utf8mb4 everywhere", {"mysql-22"}),
        ("Replica in sync", {"mysql-20", "pg-16"}),
        ("Point-in-time recovery (WAL archiving) enabled", {"pg-15"}),  # the example names PostgreSQL's way
        ("Point-in-time recovery enabled", {"mysql-19", "pg-15"}),
        ("Postgres replication lag under 10s", {"pg-16"}),
        (".git directory not accessible over HTTP", {"http-13"}),
        ("Directory listing disabled on the web server", {"http-13"}),
        (".env file not publicly accessible", {"http-13"}),
        ("Sensitive files not exposed", {"http-13"}),
        ("Redis not exposed to the internet", {"redis-03"}),  # a phrase's "expos" never met "exposed"
        ("Debug endpoints not exposed", {"obs-11"}),
        ("Runbooks linked from alerts", {"mon-12"}),
        ("Every alert has a runbook", {"mon-12"}),
        ("Operations runbook reviewed", {"doc-01"}),  # the document itself, not the alerts' links
        ("Incoming CSV files match the agreed schema", {"batch-03"}),  # "agreed" names the contract, not a document to write
        ("Half-written files (.part / .tmp) are never picked up", {"batch-02"}),  # "written": a file, not a document
        ("Inbox directory not world-readable", {"batch-08"}),
        ("Sequences will not overflow", {"pg-21"}),
        ("Schema matches the migration files", {"pg-24"}),
        ("Statement timeout for ad-hoc queries", {"mysql-12", "pg-09"}),
        ("Connections go through PgBouncer in transaction mode", {"pgb-02"}),
        ("Job duration metrics exported", {"mon-10"}),
        # A vetoed clause leaves the others: Vault is comp-09/k8s-13's, the repository cfg-10's.
        ("Secrets in Vault, not in environment files in the repo", {"comp-09", "k8s-13", "cfg-10"}),
        ("Secrets stored in Vault", {"comp-09", "k8s-13"}),
        ("RabbitMQ guest account disabled", {"wrk-13"}),
        ("Broker default credentials changed", {"wrk-13"}),
        ("File descriptor limits raised (ulimit -n >= 65535)", {"host-07"}),
        ("nofile limit set in systemd unit", {"host-07"}),
        ("All nodes Ready, no NotReady or SchedulingDisabled", {"k8s-22"}),
        ("No pods in CrashLoopBackOff or ImagePullBackOff", {"k8s-21"}),
        ("API versions not deprecated for k8s 1.29", {"k8s-19"}),
        ("No workload runs with cluster-admin", {"k8s-17"}),
        ("ServiceAccount tokens not automounted where unused", {"k8s-14"}),
        ("hostNetwork/hostPID not used", {"k8s-10"}),
        ("Every API endpoint returns no 5xx", {"app-10"}),
        ("Role checks: viewer cannot call admin APIs", {"app-02"}),
        ("Postgres user for the app has only DML rights", {"pg-02"}),
        ("Passwords stored as SCRAM-SHA-256", {"pg-03"}),
        ("Invalid indexes rebuilt", {"pg-19"}),
        ("Redis used as cache has allkeys-lru", {"redis-04"}),
        ("Redis last save succeeded", {"redis-12"}),
        ("No GPL dependencies", {"rel-06"}),
        ("The deployed image is the one that was tested", {"rel-08"}),
        ("Runbook reviewed by on-call", {"doc-01"}),  # the runbook, not the rota
        ("WebSocket endpoint upgrades correctly behind the ingress", {"obs-09"}),
        # A terse list's bare topics: the state that topic names.
        ("SSL", {"tls-01", "tls-02", "tls-03"}),
        ("Backups", {"bk-01"}),
        ("Migrations", {"pg-14", "mysql-17"}),
        ("Error pages", {"obs-10"}),
        ("Nobody can log in to SSH with a password", {"ssh-01"}),
        ("Make sure debug mode is disabled", {"cfg-01"}),  # "make sure", "ensure", "verify that" say nothing of what
        ("Verify that backups run nightly", {"bk-01"}),
        ("Version deployed matches tag v2.0.0", {"rel-08"}),
        ("Postgres max_connections > pool size × instances", {"pg-25"}),
        ("App servers patched within the last 30 days", {"os-02"}),
        ("Pager alerts for 5xx spikes", {"mon-05"}),
        ("QA regression suite passed", {"rel-01"}),
        ("Snyk findings resolved", {"rel-04"}),
        # What a team writes to run its list is not what the item asks.
        ("`redis.conf`: `requirepass` set — due 2026-12-01 (owner: @bob)", {"redis-01"}),
        ("maxmemory policy allkeys-lru", {"redis-04"}),
        ("App does not connect as superuser", {"pg-02"}),
        ("Alert rules loaded", {"mon-04"}),
        ("Alertmanager running", {"mon-07"}),
        ("Alertmanager routes to PagerDuty", {"mon-08"}),  # Alertmanager names alerting
        ("On-call rota in PagerDuty", {"team-01"}),  # PagerDuty alone names people as often as alerts
        ("PagerDuty alerts go to the on-call", {"mon-08"}),
        ("Service monitored by Prometheus", {"mon-03"}),
        ("Micrometer metrics scraped by Prometheus", {"mon-03"}),
        ("Actuator health endpoint returns UP", {"obs-01"}),  # the health endpoint answering, not a debug endpoint exposed
        ("Actuator endpoints other than health/info not exposed", {"obs-11"}),
        ("HikariCP pool size matches DB max connections", {"pg-25"}),
        ("Redis queue durable", {"redis-05"}),
        ("No queue with more than 10k messages", {"wrk-06"}),
        ("Dead letter queue has no messages", {"wrk-07"}),
        ("Consumers ack manually", {"wrk-04"}),
        ("Image scanned with Trivy, no critical findings", {"rel-04"}),
        ("Dependency check (OWASP) passes", {"rel-04"}),
        ("Load test: 500 rps at p95 < 300ms", {"rel-07"}),
        ("Uptime check on /healthz from outside", {"mon-11"}),
        ("Postgres statement_timeout set for app user", {"pg-09"}),  # not MySQL's statement limit
        ("Statement timeout set", {"pg-09", "mysql-12"}),
        ("MySQL max_execution_time set", {"mysql-12"}),
        ("Prometheus scraping all targets, alert rules loaded", {"mon-02", "mon-04"}),
        ("Kernel up to date", {"os-02"}),
        ("fail2ban protecting sshd and wp-login", {"net-04"}),
        ("Nginx server_tokens off", {"http-07"}),
        ("PHP expose_php = Off", {"http-07"}),
        ("Custom 404 and 500 pages", {"obs-10"}),
        ("MySQL bound to 127.0.0.1", {"net-02"}),
        ("Redis listens on localhost only", {"net-02", "redis-03"}),
        ("MySQL root has a password", {"mysql-18"}),
        ("Logs kept 90 days", {"host-08"}),
        ("Application logs rotated and kept for 30 days", {"host-08"}),
        ("Prometheus retention 15 days", {"mon-09"}),  # metrics, not logs
        ("RabbitMQ management UI not exposed to the internet", {"net-02"}),
        ("Kafka not publicly accessible", {"net-02"}),
        ("Queue depth under 1000", {"wrk-06"}),
        ("System documentation up to date", {"doc-04"}),  # not the OS's packages
        ("Access logs kept 90 days", {"host-08"}),
        ("RabbitMQ TLS enabled", {"wrk-14"}),  # not the web TLS checks
        ("Celery broker over TLS", {"wrk-14"}),
        ("Broker connections use TLS", {"wrk-14"}),
        ("TLS between workers and RabbitMQ", {"wrk-14"}),
        ("Deployment has 3 replicas", {"k8s-03"}),
        ("Requests and limits on every container", {"comp-03", "k8s-01"}),
        ("No privileged containers", {"comp-04", "k8s-10"}),
        ("HPA on CPU 70%", {"k8s-05"}),
        ("Nightly backups with point-in-time recovery (WAL archiving)", {"bk-01", "pg-15"}),
        ("SECURE_SSL_REDIRECT, SESSION_COOKIE_SECURE, CSRF_COOKIE_SECURE = True", {"http-01", "http-09"}),
        ("Rate limits on API requests", {"auth-06"}),  # not resource requests and limits
        ("Swap disabled on Kubernetes nodes", {"os-13"}),
        ("Swap configured (2G)", {"os-13"}),
        ("Warehouse Postgres: WAL archiving to object storage", {"pg-15"}),
        ("Failed task alerts go to #data-oncall", {"mon-08"}),
        ("Long analytical queries cannot block ETL (statement_timeout for analysts)", {"pg-09"}),
        ("SFTP drop folder permissions: only the partner account can write", {"batch-08"}),  # "write" as a permission
        ("Write the rollback plan", {"dr-01"}),
        # Questions and short past participles, as terse lists write them.
        ("Load tested", {"rel-07"}),
        ("Database query performance tested", {"mysql-15", "pg-17"}),  # query performance, not a load test
        ("Have we load tested at 2x?", {"rel-07"}),
        ("Who is on call during launch?", {"team-01"}),
        ("Are backups running nightly?", {"bk-01"}),
        ("Is the Redis instance password-protected?", {"redis-01"}),
        ("Metrics retained for 30 days", {"mon-09"}),
        # A topic's later clauses are read with the topic too ("Docker healthcheck").
        ("Docker: non-root user, healthcheck, pinned base image",
         {"dock-01", "dock-02", "dock-03", "comp-02", "comp-10", "k8s-06", "k8s-12"}),
        ("Redis: password, no FLUSHALL, maxmemory set", {"redis-01", "redis-04", "redis-08"}),
        ("SSH: keys only, no root, fail2ban", {"ssh-01", "ssh-03", "ssh-05", "net-04"}),
        ("Kubernetes: probes, limits, PDB, HPA", {"k8s-01", "k8s-02", "k8s-04", "k8s-05"}),  # not Compose's or the Dockerfile's
        ("Kubernetes liveness probes", {"k8s-02"}),
        ("Debug toolbar removed", {"obs-11"}),
        ("Admin panel not exposed", {"auth-02"}),  # a debug panel is obs-11's, an admin panel auth-02's
        ("Broker (Redis) password set", {"redis-01"}),  # "rediss" is not a phrase word: it would meet "redis"
        # DNS and the mail domain.
        ("DNS records configured", {"dns-01"}),
        ("Domain points to the load balancer", {"dns-01"}),
        ("MX records configured", {"dns-01"}),
        ("Hostnames resolve correctly (DNS records in place)", {"dns-01"}),
        ("Secondary DNS in sync", {"dns-02"}),
        ("Lower DNS TTL to 300s 48h before migration", {"dns-03"}),
        ("Email authentication (SPF/DKIM/DMARC) configured", {"dns-04", "dns-05", "dns-09"}),
        ("DMARC policy set to reject", {"dns-05"}),
        ("CAA record restricts certificate issuance", {"dns-06"}),
        ("Zone transfers restricted", {"dns-07"}),
        ("DNSSEC enabled", {"dns-08"}),
        ("Mail server hostname resolves", {"dns-10"}),
        ("Domain configured with SSL", {"tls-01", "tls-09"}),  # the site's TLS, not its DNS
        ("JWT TTL set to 15 minutes", {"auth-03"}),  # a token's lifetime, not a record's
        # Sample items that stayed manual though a check answers them.
        ("Error tracking service integrated (Sentry/Rollbar/etc.)", {"cfg-11"}),
        ("Error monitoring in place", {"cfg-11"}),
        ("Database schema migrations ready", {"mysql-17", "pg-14"}),
        ("Application starts successfully", {"obs-01"}),
        ("App starts on boot", {"host-01"}),  # enabled at boot, not answering now
        ("Database indexes verified", {"mysql-13", "pg-12", "pg-19"}),
        ("Database query logging configured", {"mysql-09", "pg-10"}),
        ("Redis connection security", {"redis-01", "redis-09"}),
        ("Monitoring systems operational", {"mon-01"}),
        ("Monitoring configured", {"mon-01", "mon-02"}),
        ("Uptime monitoring configured (UptimeRobot/Pingdom/etc.)", {"mon-11"}),  # the outside probe only
        ("Security scan completed", {"rel-04"}),
        ("Performance tested", {"rel-07"}),
        ("Kubernetes pods have resource limits", {"k8s-01"}),  # not Compose's limits
        ("Memory limits set (Docker/K8s)", {"comp-03", "k8s-01"}),  # both platforms named: both
        ("Escalation paths defined", {"team-02"}),
        ("Runbooks for primary failure modes", {"doc-01"}),
        ("Alerting covers critical paths", {"mon-05"}),
        ("robots.txt allows crawling", {"site-01"}),
        ("Remove noindex before launch", {"site-01"}),
        ("sitemap.xml published", {"site-02"}),
        ("Prometheus scraping all pods", {"mon-02"}),
        ("Namespace has ResourceQuota and LimitRange", {"k8s-25"}),
        ("Verify no incidents in progress", {"mon-06"}),  # no critical alert firing now
        ("No :latest tags", {"comp-10", "dock-03", "k8s-12"}),  # every place an image is named
        ("All Deployments have liveness and readiness probes", {"k8s-02"}),  # not Compose's or the Dockerfile's HEALTHCHECK
        ("Sensitive values not in git", {"cfg-10"}),
        (".env file not in version control", {"cfg-10"}),
        ("Ensure no sensitive data in version control", {"cfg-10"}),
        ("SECURE_CONTENT_TYPE_NOSNIFF = True", {"http-04"}),
        ("Application accessible via URL", {"obs-01"}),
        ("PostgreSQL 12+ installed and running", {"pg-07"}),  # connects, and judges the release
        ("Redis 7+ installed and running", {"redis-07"}),
        ("Cron jobs scheduled", {"host-09"}),
        ("Backup cron job configured", {"host-09", "bk-01"}),  # the job in the crontab, and its latest backup
        ("On-call schedule setup", {"team-01"}),  # "schedule" is cron's word too: a job must be named for host-09
        ("Only one scheduler running", {"wrk-10"}),
        ("Server timezone set to UTC", {"os-14"}),
        ("Database timezone set to UTC", {"mysql-23", "pg-26"}),  # the server's setting, not the host's clock
        ("helmet middleware enabled", {"http-02", "http-03", "http-04", "http-05", "http-06"}),
        # An item that names one data store is not answered by another's check.
        ("MySQL slow query log on", {"mysql-09"}),
        ("Slow query log on", {"mysql-09", "pg-10"}),
        ("MySQL binlog enabled for PITR", {"mysql-19"}),
        ("utf8mb4 everywhere", {"mysql-22"}),
        ("Redis cache hit rate above 90%", {"redis-10"}),
        ("Stack traces not shown to users", {"obs-10"}),
        ("Order confirmation emails pass SPF/DKIM", {"dns-04", "dns-09"}),
        ("Emails pass SPF", {"dns-04"}),
        ("Terms and privacy policy pages live", {"legal-04"}),
        ("Exception notifications go to Sentry", {"cfg-11"}),  # the tracker, not Prometheus alert rules (mon-05)
        ("New Relic APM reporting", {"cfg-11"}),
        ("Sidekiq running with production queues", {"wrk-01"}),
        ("config.force_ssl = true", {"http-01"}),  # "config." is where the setting lives, not "configured"
        ("Healthcheck endpoint /up returns 200", {"obs-01"}),  # the health check, not every API operation (app-10)
        ("Configure SMTP settings", {"smtp-02"}),
        ("favicon and meta tags present", {"site-03"}),
        ("Anti-affinity spreads replicas across nodes", {"k8s-26"}),
        ("Anonymous MySQL users removed", {"mysql-03"}),
        ("Dependencies pinned (requirements.txt with hashes)", {"cfg-13"}),
        ("All endpoints require a valid JWT except /health and /login", {"auth-01"}),
        ("Argo CD app synced and healthy", {"k8s-27"}),
        ("Images pulled from private registry", {"comp-12", "k8s-28"}),
        ("Node.js LTS version", {"dock-08"}),
        ("Disk, CPU, memory within limits on all hosts", {"os-08", "os-10", "os-11"}),  # usage, not containers' limits
        ("Memory usage within limits", {"os-11"}),
        ("Memory limits set on containers", {"comp-03", "k8s-01"}),
        ("Backups ran overnight", {"bk-01"}),
        ("CI green on release branch", {"rel-01"}),
        ("Load test at 3x Black Friday peak passed", {"rel-07"}),
        ("No end-of-life runtimes", {"dock-08"}),
        ("PostgreSQL version supported", {"pg-07"}),  # the server's release, not the image's runtime
        ("Compose images from the internal registry", {"comp-12"}),
        ("Flux reconciliation succeeded", {"k8s-27"}),
        ("Certificates auto-renew via cert-manager", {"k8s-24"}),
        ("Secrets in Kubernetes Secrets, not ConfigMaps", {"k8s-13"}),  # not Compose's comp-09
        ("No secrets in container images or env files committed to git", {"cfg-10", "dock-04"}),
        ("No secrets baked into Docker images", {"dock-04"}),
        ("Database failover tested in the last quarter", {"dr-07"}),
        ("Alerts routed to the payments on-call rotation", {"mon-08"}),
        ("Lock files committed", {"cfg-13"}),
        ("Default MySQL test database removed", {"mysql-06"}),
        ("No world-writable files in /var/www", {"host-04"}),
        # every place a default login could survive, not only the configuration files
        ("No default passwords on any component", {"auth-05", "cfg-05", "mysql-18", "pg-04", "wrk-13"}),
        ("Topology spread constraints across zones", {"k8s-26"}),
        ("SEO basics: title and meta description", {"site-03"}),
        ("Log aggregation service configured (optional: ELK/Loki)", {"host-10"}),
        ("Logs shipped to Loki", {"host-10"}),
        ("Centralized log management", {"host-10"}),
        ("Log retention 90 days", {"host-08"}),  # kept on the host, not shipped
        ("Mail server uses TLS", {"smtp-01"}),
        ("SMTP relay restricted to authenticated users", {"smtp-03"}),
        ("Not an open relay", {"smtp-03"}),
        ("Payment provider in live mode, test keys removed", {"cfg-12"}),
        ("Stripe live keys configured", {"cfg-12"}),
        ("OWASP dependency-check: no CVSS >= 7", {"rel-04"}),
        ("govulncheck: no reachable vulnerabilities", {"rel-04"}),
        ("SBOM attached to the release", {"rel-05"}),
        ("Image tag is immutable (git SHA, not latest)", {"comp-10", "k8s-12"}),
        ("Server timezone and NTP sync", {"os-03"}),
        ("`expose_php = Off`", {"http-07"}),
        ("Browser caching headers for images/css/js", {"obs-08"}),
        ("Contact form sends email (SMTP plugin configured)", {"smtp-02"}),
        ("Max request body size enforced", {"cfg-08"}),
        ("Connection count below 80% of max_connections", {"mysql-10", "pg-08"}),
        ("Build info endpoint shows commit SHA of the release tag", {"rel-08"}),
        ("Config loaded from environment, no secrets in config.yaml", {"cfg-10"}),
        ("Health endpoint /health checks Mongo + Redis", {"obs-04"}),
        ("Alerts: 5xx rate, p99 latency, consumer lag, pod restarts", {"mon-05"}),
        ("MariaDB root has a password, remote root login disabled", {"mysql-05", "mysql-18"}),  # not sshd's root login
        ("require_secure_transport = ON", {"mysql-01"}),
        ("Spring profiles: `prod` active, `dev` profile not enabled", {"cfg-02"}),
        ("Spring Boot actuator secured", {"obs-11"}),
        ("App handles SIGTERM gracefully", {"dock-09"}),
        ("SPF, DKIM and DMARC records for the sending domain", {"dns-04", "dns-05", "dns-09"}),
        ("Robots.txt and sitemap.xml for production", {"site-01", "site-02"}),
        ("Go/No-Go sign-off by engineering manager and product owner", {"signoff-01", "signoff-04"}),
        ("Incident channel and escalation policy documented", {"team-02", "team-06"}),
        # One side of "A and B" adds a check only beside another match, for words it does not explain.
        ("Kafka topics created with replication factor 3 and min.insync.replicas=2", set()),
        ("JWT signing key rotated and old key removed", set()),
        ("fw on", {"net-03"}),
        ("nginx hide version number", {"http-07"}),
        ("Backups copied offsite", {"bk-05"}),
        ("Image digest matches what was scanned", {"rel-08"}),
        ("TLS valid", {"tls-01", "tls-02", "tls-03"}),
        ("Disk below 80% on all hosts", {"os-08"}),
        ("OS updates", {"os-02"}),
        ("security.txt published", {"site-04"}),
        ("Vulnerability disclosure contact published", {"site-04"}),
        ("Read-only filesystem", {"k8s-08"}),
        ("DB migrations", {"mysql-17", "pg-14"}),
        ("DB migrations backwards compatible", set()),  # a property of the migrations, not where they stand
        ("Automated snapshots retained 35 days", set()),  # how long backups are kept, not how recent the last one is
        ("Point-in-time recovery tested", {"dr-04"}),  # a recovery drill, not only archiving switched on
        ("Point-in-time recovery enabled", {"pg-15", "mysql-19"}),
        ("Database port not exposed", {"comp-07", "net-02"}),  # Compose's published ports, a host's listening sockets
        ("Redis not exposed publicly", {"redis-03"}),
        ("Backup of Vault configured", {"bk-01"}),  # backing the secret store up, not where secrets come from
        ("Elasticsearch cluster health green", set()),  # the cluster's status, not an app's health endpoint
        ("Old API version deprecated with sunset header", set()),  # the application's API, not the cluster's
        ("Email sending domain verified in SES", set()),  # the provider's DNS identity, not an SMTP login
        ("Encryption in transit everywhere", {"http-01", "mysql-01", "pg-01", "redis-09", "wrk-14"}),
        ("Backups encrypted in transit", {"bk-03"}),  # a backup's transfer, not the services' own TLS
        ("CDN cache hit ratio above 90%", set()),  # the CDN's cache, not Redis's or a database's
        ("Permissions-Policy header set", set()),  # a browser header, not authorization
        ("Login page not cached", set()),  # caching, not whether the login works
        ("Uploads stored in S3, not local disk", set()),  # where uploads live, not a backup copy
        ("Websocket connections survive a deploy", set()),  # a drill across a deploy, not the upgrade
        ("Containers don't run privileged", {"comp-04", "k8s-10"}),  # "don't" is a negation, not "don" and "t"
        ("No pending PVCs", {"k8s-23"}),
        ("PodDisruptionBudgets allow 1 unavailable", {"k8s-04"}),
        ("RabbitMQ disk free limit set", set()),  # the broker's own alarm setting, not the host's disk usage
        ("Free disk space on the broker host", {"os-08"}),
        ("SSL expiry alert 14 days before", {"mon-05"}),
        ("Disk fill prediction alert (predict_linear)", {"mon-05"}),
        ("SSL expiry checked", {"tls-03"}),
        ("TLS expiry > 30 days", {"tls-04"}),
        ("Log level can be changed at runtime", set()),  # a capability, not the level set now (cfg-03)
        ("Strong migrations checks passing", set()),  # a linter of migrations in CI, not whether they are applied
        ("Success metrics defined", set()),  # what counts as success, not a metrics endpoint (obs-05)
        ("Cron jobs", {"host-09"}),
        ("Cron jobs not duplicated across instances", {"wrk-10"}),
        ("APM", {"cfg-11"}),
        ("Disk encryption enabled", set()),
        ("ASPNETCORE_ENVIRONMENT=Production on the app service", {"cfg-02"}),
        ("Developer exception page disabled (UseDeveloperExceptionPage only in Development)", {"obs-10"}),
        ("Telescope disabled in production", {"obs-11"}),
        ("Mail driver SMTP via Postmark, SPF/DKIM set", {"dns-04", "dns-09", "smtp-02"}),
        ("Windows Server patches applied (WSUS)", set()),  # the host checks read Linux hosts

        ("Security headers (CSP, HSTS, X-Frame-Options) added", {"http-02", "http-03", "http-04", "http-05", "http-06"}),
        ("Nightly pg_dump, encrypted with age, uploaded to S3", {"bk-01", "bk-03", "bk-05"}),
        ("Static assets uploaded to S3", set()),  # not a backup copy (bk-05)
        ("Prometheus + Grafana deployed", {"mon-01"}),
        ("Alerting rules for error rate, latency, disk and certificate expiry", {"mon-05"}),
        ("systemd units enabled, restart on failure", {"host-01"}),  # systemd's restart, not Compose's (comp-01)

        ("Cryptographic keys shall be at least 2048 bits (RSA) or 256 bits (ECC).", {"tls-05"}),
        ("The service shall run on at least two nodes.", {"k8s-03"}),
        ("A PodDisruptionBudget shall prevent voluntary eviction of all replicas.", {"k8s-04"}),
        ("A restore test shall have been performed within the last 90 days.", {"dr-04"}),
        ("SSH host keys at least 3072 bits", set()),  # not a TLS certificate's key (tls-05)

        ("Backups verified by restore", {"dr-04"}),

        ("Null checks on mandatory columns", set()),  # not NULL cipher suites (tls-10)
        ("No NULL or EXPORT ciphers", {"tls-10"}),
        ("Files are gzip-compressed and checksummed (.sha256)", {"batch-05"}),  # files, not HTTP responses (obs-07)

        ("Dependencies: explicitly declared and isolated (lockfile)", {"cfg-13"}),
        ("Automatic logoff after 15 minutes of inactivity", {"app-08"}),
        ("Data backup plan: daily backups, tested restore", {"bk-01", "dr-04"}),  # a plan as the topic, the restore done
        ("Restore test planned for next week", set()),
        ("`SECRET_KEY_BASE` set (64+ bytes)", {"cfg-04"}),
        ("TLS 1.2+ only", {"tls-08"}),
        ("LiveDashboard behind basic auth", {"auth-02"}),
        ("Erlang distribution port not exposed publicly", {"net-02"}),
        ("Health check endpoint returns 200 under load balancer", {"obs-01"}),
        ("Load balancer health checks configured", set()),  # the balancer's own configuration

        ("Location: Off-site storage", {"bk-05"}),
        ("Backups replicated to another region", {"bk-05"}),
        ("Offsite backup restore tested", {"dr-04"}),  # the drill, not where copies are

        ("XSS protection enabled", {"http-03"}),
        ("Worker health check alerts", {"mon-05"}),
        ("CI/CD pipeline configured", {"rel-01"}),
        ("CI secrets configured", set()),  # where CI keeps its secrets, not a release's tests nor the repository's
        ("Secrets configured", set()),

        ("Alerts firing to on-call", {"mon-08"}),  # delivered to a person, not "no alert firing" (mon-06)
        ("Go decision recorded in CAB", {"signoff-05"}),
        ("Kernel parameters tuned (sysctl)", {"os-15"}),
        ("vm.overcommit_memory = 1 on the Redis host", {"os-15"}),
        ("vm.swappiness=1 on database servers", {"os-15"}),
        ("Pod Security Admission label `enforce: restricted`", {"k8s-29"}),
        ("Pod Security Standards enforced on all namespaces", {"k8s-29"}),
        ("Alerting configured", {"mon-05"}),
        ("Secrets not in ConfigMaps or env literals", {"k8s-13"}),
        ("StatefulSet volumes use a StorageClass with `reclaimPolicy: Retain`", {"k8s-18"}),
        ("Cron running (`bin/magento cron:run` every minute)", {"host-09"}),
        ("Scheduler running", set()),  # which scheduler: Celery beat's, Airflow's, a rota
        ("Transactional emails sent via SMTP (SendGrid)", {"smtp-02"}),
        ("`app/etc/env.php` not world-readable", {"host-03"}),
        ("Production mode enabled (`bin/magento deploy:mode:show` = production)", {"cfg-02"}),
        ("Elasticsearch/OpenSearch reachable, indexers \"Update by Schedule\"", set()),  # reachable is not exposed
        ("DB not reachable from the internet", {"net-02"}),
        ("No mixed content on any page", {"http-14"}),
        ("Log rotation for gunicorn and celery logs", {"host-06"}),
        ("Synthetic checks from two regions", {"mon-11"}),
        ("Paging policy and escalation configured", {"mon-08"}),
        ("CI/CD pipeline with automated tests", {"rel-01"}),
        ("CSP without unsafe-eval", {"http-03"}),
        ("Clickjacking protection (frame-ancestors 'none')", {"http-05"}),
        ("Only 443 exposed; SSH via VPN", {"net-01"}),
        ("OS patches < 14 days old", {"os-02"}),
        ("Default accounts disabled everywhere", {"auth-05", "cfg-05", "mysql-18", "pg-04", "wrk-13"}),
        ("Secrets scanning in CI (gitleaks)", {"cfg-10"}),
        ("Pen test report accepted by CISO", {"signoff-03"}),
        ("Flower protected by basic auth", {"auth-02"}),
        ("Bull Board dashboard behind auth", {"auth-02"}),
        ("Dead tasks / failures reported to Sentry", {"cfg-11"}),
        ("SCA scan: no critical findings", {"rel-04"}),
        ("Login: rate limited and generic error message", {"auth-06"}),  # not error pages (obs-10); the message is attested
        ("Backout plan reviewed and approved by CAB", {"dr-01", "signoff-05"}),
        ("Monitoring agents installed and reporting", {"mon-02"}),
        ("Disk utilisation below 75% on all servers", {"os-08"}),
        ("Database schema version confirmed after migration", {"mysql-17", "pg-14"}),  # not the server's release
        ("Assets precompiled, served with far-future cache headers", {"obs-08"}),
        ("Row counts match between old and new DB", set()),  # a migration's, not a batch file's (batch-04)
        ("Uptime checks on the public URL", {"mon-11"}),
        ("Runbook in the service manual", {"doc-01"}),
        ("Target servers patched to the current baseline", {"os-02"}),
        ("Brakeman: no high-confidence warnings", {"rel-03"}),
        ("SSH: no passwords, no root, modern ciphers only", {"ssh-01", "ssh-03", "ssh-06"}),
        ("Signals forwarded to the app (tini)", {"dock-09"}),
        ("Celery workers shut down gracefully (warm shutdown)", set()),  # a worker's own shutdown, not PID 1
    ],
)
def test_clear_items_match(vocab: Vocabulary, text: str, expected: set[str]) -> None:
    assert set(ids(vocab, text)) == expected


@pytest.mark.parametrize(
    ("text", "unanswered"),
    [
        # A clause of its own that no matched check speaks to: a person attests it beside the checks.
        ("Only key-based SSH, port not 22", ("port not 22",)),
        ("Images pinned by digest, signed with cosign", ("signed with cosign",)),
        ("Secrets in Vault, rotated quarterly", ("rotated quarterly",)),
        ("Migrations applied, schema matches, seed data loaded", ("seed data loaded",)),
        ("Kernel up to date, reboot pending cleared", ("reboot pending cleared",)),
        ("Daily mysqldump, kept 14 days, copied off the server", ("kept 14 days",)),  # bk-05 answers the copy
        # Clauses that lean on the first one's subject, or that a matched check answers: no gap.
        ("Cookies marked Secure, HttpOnly and SameSite", ()),
        ("Images pinned by digest, no :latest", ()),
        ("Secrets stored in Kubernetes Secrets / Vault, not ConfigMaps", ()),
        ("max_connections sized for app pool + headroom", ()),
        ("Task acks late + prefetch multiplier 1 for long tasks", ()),
        ("Redis requirepass set; maxmemory policy allkeys-lru", ()),
        ("Payments API - TLS certificate valid", ()),  # a leading topic is what the item is about
        ("Backups configured, tested", ()),  # nothing of its own: the restore drill check answers "tested"
        ("Backups: daily, encrypted, offsite", ()),  # read with its topic, each clause is answered (bk-01, bk-03, bk-05)
        ("Backups: daily, encrypted, kept a year", ("kept a year",)),  # a clause no check answers is attested
        ("SSL certificates installed and valid", ()),  # not a list of clauses
        ("SLOs defined: 99.95% availability, p99 < 500ms", ()),  # the values of the SLOs the label asks for
        ("SECURE_SSL_REDIRECT, SESSION_COOKIE_SECURE, CSRF_COOKIE_SECURE = True", ()),  # http-09 judges every cookie
        ("Firewall: only 80/443 open, SSH restricted to VPN", ("SSH restricted to VPN",)),  # a bare topic: each clause counts
        # Each side of "A and B" is a condition of its own; a side a check speaks to is no gap.
        ("Privacy notice and accessibility statement published", ("accessibility statement published",)),
        ("Server timezone and NTP sync", ("Server timezone",)),
        ("Login: rate limited and generic error message", ("generic error message",)),
        ("Robots.txt and sitemap.xml for production", ()),
        ("Recovery tested, RPO 1 hour, RTO 4 hours", ("RPO 1 hour", "RTO 4 hours")),
        # A side ends on what sets it apart: "at rest" is not answered by the words it shares with "in transit".
        ("Encryption in transit and at rest", ("at rest",)),
        ("Data encrypted at rest and in transit", ("Data encrypted at rest",)),
    ],
)
def test_clauses_no_matched_check_answers_are_left_to_attest(vocab: Vocabulary, text: str, unanswered: tuple[str, ...]) -> None:
    result = match_checklist(parse_text(f"## Checks\n- [ ] {text}\n").items, vocab)[0]
    assert result.check_ids, text
    assert result.unanswered == unanswered


def test_signoff_roles_match_under_a_signoff_heading(vocab: Vocabulary) -> None:
    assert ids(vocab, "Security team: Go", "Go/No-Go") == ["signoff-03"]
    assert ids(vocab, "Product owner approval") == ["signoff-04"]
    # Without an approval the same words are not a sign-off.
    assert ids(vocab, "Security team briefed on the new login flow") == []


@pytest.mark.parametrize(
    "text",
    [
        "ModelFilters CreatedBy field added",  # project-specific: the catalog cannot know it
        "Load balancer SSL termination",  # architecture, not the certificate's state
        "SSL certificate renewal process documented",  # a document, not tls-0x
        "Weekly: look at the certificate dates",  # a recurring duty
        "Backup approach written down",  # a document, not bk-01
        "Restore test planned for next sprint",  # a plan: neither a backup nor a drill
        "Index usage reviewed",  # the catalog has no general index check yet
        "Architecture is firewall-friendly",
        "DBA: ________",
        "Strong password policy enforced for users",  # users' passwords, not a service's (cfg-09)
        "Rotate database passwords every 90 days",  # a rotation duty
        "Load balancer alerts configured",  # not a CPU load alert
        "Max connections: 20-50 (adjust based on load)",  # a setting to choose, not headroom (pg-08)
        "Memory usage patterns",  # an analysis, not the memory in use now (os-11)
        "JVM heap size tuned",
        "Memory leak testing done",
        "Resque workers running",  # Resque is not read (Celery, BullMQ, Sidekiq are)
        "Sidekiq cron jobs scheduled",  # sidekiq-cron's keys are not read
        "API keys rotated",  # a duty, not a state a scan sees
        "No credentials in CI logs",
        "Data encrypted at rest",
        "Metrics endpoint not exposed publicly",  # keeping them private: obs-05 proves they are served
        "Monitoring",  # a topic too wide for any one check
        "Secrets",
        "Rollback",
        "Key rotation for the signing keys",  # rotating is a duty; cfg-04 judges the key's strength
        "Uptime > 99.9%",  # an availability measured over weeks, not a probe that passes now
        "RabbitMQ queues durable",  # Redis persistence (redis-05) says nothing of RabbitMQ's queues
        "Grafana dashboard for the service",
        "Site loads in < 2s",  # a page's load time in a browser, not the health endpoint's latency
        # Words this round's phrases use, meaning something else.
        "Queue messages encrypted",
        "OWASP Top 10 review passed",  # a security review, not a dependency scan
        "Broker internal documentation",
        "Audit logs stored for 1 year in S3",  # kept in S3, not by logrotate on the host
        "Uptime check vendor contract signed",
        "Push notification certificates valid",  # a mobile push service's certificate: not alerting, not the site's TLS
        "APNs certificate not expiring",
        "Swap usage alert",  # an alert to add, not the swap policy
        "Hot swap disks",
        # DNS words meaning something else.
        "CoreDNS pods running",  # the cluster's own DNS, not a zone
        "No single point of failure (SPF)",
        "DNS failover configured",  # health-checked routing, not the records' values
        "Domain auto-renewal enabled",  # the registration, not the zone
        "Cache TTL configured",
        "Frontend error tracking (Sentry browser)",  # the browser's, not the server's configuration
        "Error rates by endpoint",  # a metric to watch
        "Staging is not indexed by search engines",  # judged where the inventory holds staging, not by the production site passing
        "robots.txt present",  # a missing robots.txt blocks nothing
        "Test database connection",  # a verb: not MySQL's test database (mysql-06)
        "Application accessible only from VPN",  # who may reach it, not whether it answers
        "Redis installed on a separate host",  # where, not which release
        "Crontab entries migrated to the new server",  # a migration step; host-09 needs the jobs named
        "Timestamps stored in UTC",  # the application's data, not the host's clock
        "Sitemap submitted to Google Search Console",  # done in Google's console, not visible on the site
        "Cluster autoscaler enabled",  # nodes, not the pods' HPA (k8s-05)
        "No incidents in the last week",  # a history, not what is firing now
        "Multi-AZ deployment",  # a cloud's zones for any kind of server, not only pods
        "Node pools spread across zones",  # nodes, not the pods on them
        "Production build successful",  # a build, not the release's tests (rel-01)
        "Peak traffic expected on Monday",  # a forecast, not a load test
        "Helm release deployed at the right version",  # plain Helm keeps releases in Secrets, which are not read
        "Crash reporting (Crashlytics) for the app",  # the mobile app's, not the server's error tracker (cfg-11)
        "Dependencies up to date",  # newest releases, not locked ones
        "Open Graph tags set",  # the front page's title, description and icon are not its social cards
        "Test email sending functionality",  # sending a message is not done: the login is (smtp-02)
        "Outgoing mail not flagged as spam",
        "Webhooks from payment provider verified by signature",
        "Malformed records sent to a dead-letter location",  # the pipeline's design, not this batch's records (batch-03)
    ],
)
def test_items_the_catalog_cannot_prove_stay_manual(vocab: Vocabulary, text: str) -> None:
    assert ids(vocab, text) == []


def test_alerts_and_monitoring_go_to_the_monitoring_checks(vocab: Vocabulary) -> None:
    assert ids(vocab, "Alert on disk space running low") == ["mon-05"]  # an alert rule, not the disk usage now (os-08)
    assert ids(vocab, "Alert two weeks before the TLS certificate expires") == ["mon-05"]
    assert ids(vocab, "Celery task timeouts set") == ["wrk-03"]
    # Under a metrics heading a resource is something to monitor, not a load check.
    assert "os-10" not in ids(vocab, "CPU usage", "Metrics to collect")


def test_specific_check_beats_generic(vocab: Vocabulary) -> None:
    assert ids(vocab, "Redis TLS enabled") == ["redis-09"]
    assert ids(vocab, "Database migration rollback tested") == ["dr-03"]


def test_reason_names_the_words_matched(vocab: Vocabulary) -> None:
    result = match_checklist(parse_text("- [ ] SSL certificates installed\n").items, vocab)[0]
    assert result.matches
    assert "SSL certificates" in result.matches[0].reason
    assert "SSL certificates installed" in result.matches[0].reason


def test_a_bare_topic_is_a_label() -> None:
    from pytest_deploycheck.checklist.matcher import is_label

    assert [t for t in ("Cluster", "Supply chain", "Ops", "**Data**") if is_label(t)] == ["Cluster", "Supply chain", "Ops", "**Data**"]
    assert not [t for t in ("Database connection pooling configured", "Backups tested", "Sign-off", "Docs written", "")
                if is_label(t)]


def test_check_unless_vetoes() -> None:
    vocab = vocabulary_from_mapping({"checks": {"x-01": {"phrases": ["backup recent"], "unless": ["offsite"]}}})
    assert ids(vocab, "Backup recent") == ["x-01"]
    assert ids(vocab, "Offsite backup recent") == []
    # The item a sub-item stands under says what it is about too.
    nested = parse_text("- [ ] Offsite copies\n  - [ ] Backup recent\n- [ ] Local copies\n  - [ ] Backup recent\n")
    assert [r.check_ids for r in match_checklist(nested.items, vocab)] == [(), (), (), ("x-01",)]


def test_a_check_about_one_data_store_does_not_answer_an_item_about_another() -> None:
    vocab = vocabulary_from_mapping({"checks": {"pg-90": {"phrases": ["postgres? slow_query log"]},
                                                "mysql-90": {"phrases": ["mysql|mariadb? slow_query log"]},
                                                "host-90": {"phrases": ["slow_query log shipped elasticsearch?"]}}})
    assert ids(vocab, "Slow query log on") == ["mysql-90", "pg-90"]
    assert ids(vocab, "MariaDB slow query log on") == ["mysql-90"]
    assert ids(vocab, "PostgreSQL and MySQL slow query log on") == ["mysql-90", "pg-90"]
    # A check of another area names a store as where things go, not as what it examines.
    assert ids(vocab, "MySQL slow query log shipped to Elasticsearch") == ["host-90"]
    # The heading names the store when the item does not.
    result = match_checklist(parse_text("## MySQL\n- [ ] Slow query log on\n").items, vocab)[0]
    assert result.check_ids == ("mysql-90",)
    assert any(r.startswith("pg-90: about PostgreSQL, the item names MySQL") for r in result.rejected)
    result = match_checklist(parse_text("# Go-live (PostgreSQL, RabbitMQ)\n## Logs\n- [ ] Slow query log shipped\n").items, vocab)[0]
    assert result.check_ids == ("host-90",)


def test_a_topic_over_sub_items_heads_them(vocab: Vocabulary) -> None:
    """ "Alerts" over "Disk > 85%": the sub-items are alerts to have, not states to prove."""
    md = "## Observability\n- [ ] Alerts\n  - [ ] High error rate → PagerDuty\n  - [ ] Disk > 85%\n  - [ ] Certificate expiry < 14 days\n"
    results = match_checklist(parse_text(md).items, vocab)
    assert [r.check_ids for r in results[1:]] == [("mon-05",), ("mon-05",), ("mon-05",)]
    assert any(r.startswith("tls-04: the item asks for an alert") for r in results[3].rejected)


def test_a_heading_names_the_server_or_platform_an_item_is_about(vocab: Vocabulary) -> None:
    assert ids(vocab, "`rds.force_ssl = 1`", section="PostgreSQL (RDS)") == ["pg-01"]
    assert set(ids(vocab, "In-transit encryption and AUTH token enabled", section="Redis (ElastiCache)")) == {"redis-01", "redis-09"}
    # Under Kubernetes a Compose check is not meant, nor a Kubernetes check under Docker Compose;
    # "Docker" alone is containers on either.
    assert ids(vocab, "CPU and memory requests/limits set for every container", section="Kubernetes") == ["k8s-01"]
    assert ids(vocab, "Memory limits set", section="Docker Compose") == ["comp-03"]
    assert set(ids(vocab, "Memory limits set (Docker/K8s)")) == {"comp-03", "k8s-01"}
    assert ids(vocab, "Secrets via External Secrets Operator", section="Kubernetes") == ["k8s-13"]


@pytest.mark.parametrize(("text", "hint"), [
    ("API response time < 200ms (p95)", "promql"),
    ("Error Rate | <0.1%", "promql"),
    ("Kafka consumer lag < 1000 messages", "promql"),
    ("External API integrations working (HuggingFace)", "http"),
    ("Admin user created", "sql"),
    ("Alert on p99 latency > 1 s", None),  # an alert rule, not a measurement
    ("Latency metrics: P50, P95, P99 tracked", None),  # monitoring
    ("Seed data version controlled", None),
    ("Client signed off", None),
])
def test_manual_items_a_team_can_measure_get_a_hint(text: str, hint: str | None) -> None:
    from pytest_deploycheck.checklist.hints import expectation_hint

    assert expectation_hint(parse_text(f"- [ ] {text}\n").items[0]) == hint


def test_the_hint_is_in_the_suggestion(vocab: Vocabulary) -> None:
    from pytest_deploycheck.checklist.match import Matcher

    checklist = parse_text("- [ ] API p95 latency under 300 ms\n")
    suggestion = Matcher(vocab).suggest(checklist.items[0], checklist)
    assert suggestion.checks == ()
    assert suggestion.why.endswith("measurable: a promql expectation of your own can check it "
                                   "(--deploycheck-expectations, README 'Your own checks')")


def test_every_check_declares_its_wording(catalog: list[dict[str, object]]) -> None:
    silent = [c["id"] for c in catalog if not c["answers"]]
    assert not silent, f"checks without answers= phrases: {silent}"
    for check in catalog:
        for phrase in check["answers"]:  # type: ignore[attr-defined]
            compile_phrase(str(phrase))  # raises on a phrase with no required word


def test_deterministic_same_input_same_output(vocab: Vocabulary) -> None:
    path = next(iter(sorted(SAMPLES.glob("*.txt"))), None) if SAMPLES.is_dir() else None
    if path is None:
        pytest.skip("sample checklists not present")
    items = parse_file(path).items

    def run() -> list[tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...]]]:
        return [(r.item.key, r.check_ids, tuple(m.reason for m in r.matches), tuple(m.check_id for m in r.planned))
                for r in match_checklist(items, vocab)]

    first = run()
    assert first == run()
    # The vocabulary's order in the file does not change the result either.
    data = {"checks": {c.id: [p.source for p in c.phrases] for c in reversed(vocab.checks) if not c.planned}}
    shuffled = vocabulary_from_mapping(data)
    assert [r.check_ids for r in match_checklist(items, shuffled)] == [
        r.check_ids for r in match_checklist(items, vocabulary_from_mapping(
            {"checks": {c.id: [p.source for p in c.phrases] for c in vocab.checks if not c.planned}}))
    ]


@pytest.mark.parametrize("name", ["000_62f56133abf592bf.txt", "002_ab838b342c959066.txt", "004_3f4a3fe3a7b91151.txt"])
def test_samples_parse(name: str) -> None:
    path = SAMPLES / name
    if not path.exists():
        pytest.skip("sample checklists not present")
    checklist = parse_file(path)
    assert len(checklist.items) > 50
    assert len({i.key for i in checklist.items}) == len(checklist.items)


def test_the_word_index_finds_what_comparing_every_word_finds(vocab: Vocabulary) -> None:
    """``Text.at`` (indexes of the item's words and their prefixes) is ``same_word`` applied to every
    word of the item, for every word of the catalog's phrases and for inflections of the item's own."""
    phrase_words = sorted({tok for check in vocab.checks for phrase in (*check.phrases, *check.unless)
                           for slot in phrase.slots for alt in slot.alternatives for tok in alt})
    items = ["Monitoring and alerting configured for the payments healthcheck",
             "Enforce TLS 1.2+ for all connections; certificate verification enforced",
             "Rate limiting enabled on login; ratelimit headers present", "Backups restorable, restore tested monthly",
             "Communicate the maintenance window to customers (communication plan)"]
    for line in items:
        text = read(line)
        for word in (*phrase_words, *text.toks, *(t + suffix for t in text.toks for suffix in ("s", "ing", "ation", "x"))):
            assert text.at(word) == {i for i, tok in enumerate(text.toks) if same_word(word, tok)}, (line, word)
