"""Tables in a checklist: which columns say what (status, signature, area, owner, item), and the
item a row holds: a row with a tick box or a blank, or a row of a table with a status column."""

from __future__ import annotations

import re

from pytest_deploycheck.checklist.inline import BLANK_FIELD, plain_text

# A cell that is a tick box: "[ ]", "[x]".
BOX_CELL = re.compile(r"^\[[ xX✓✔]\]$")
# Fill-in fields that record when or which, not whether: not go-live items.
FIELD_ONLY = re.compile(r"^(last[ -]?updated|updated|next[ -]?review|review[ -]?date|date|version|revision|.* date)$", re.I)
PLACEHOLDER_CELL = re.compile(r"^(_{2,}|\?{2,}|-|—|n/?a|tbd|\[ ?\]|\s*)$", re.I)
# A table column that says whether each row was done: its rows are items.
STATUS_HEADER = re.compile(
    r"^(status|state|done|ok|okay|checked?|result|verified|complete[d]?|pass ?/ ?fail|go ?/ ?no[- ]?go|yes ?/ ?no|y ?/ ?n"
    r"|pass(ed)?|met|confirmed|compliant|in ?place|implemented|achieved|satisfied|[✓✔☑☐✅]|tick(ed)?|ready)$", re.I)
#: A sign-off table's column for the signature: each row names someone who signs, filled in or not.
SIGNATURE_HEADER = re.compile(r"^(signatures?|signed( off)?|sign[- ]?offs?|approved( by)?|approvals?|initials)$", re.I)
#: A column that sorts a table's rows into areas: each row's cell there is a section of its own.
CATEGORY_HEADER = re.compile(r"^(areas?|categor(y|ies)|sections?|components?|domains?|topics?|layers?|(work)?streams?|pillars?"
                             r"|gates?|stages?|phases?)$", re.I)
# Columns that say who, when or where, not what: left out of a status table's item text.
ASIDE_HEADER = re.compile(
    r"^(owners?|responsible|assignee|assigned( to)?|who|team|by|notes?|comments?|remarks?|dates?|due|deadline|eta|links?"
    r"|tickets?|evidence|#|no\.?|nr\.?|id)$", re.I)
# A column that names what each row is to do or check: a table of items, if it had a status column.
ITEM_HEADER = re.compile(r"^(items?|checks?|tasks?|requirements?|controls?|steps?|actions?|criteria|criterion|checkpoints?"
                         r"|check ?items?|deliverables?|to ?do)$", re.I)
# A status cell that claims the row done (recorded, meaning nothing, like a ticked box).
DONE_CELL = re.compile(r"^(\[[xX✓✔]\]|[xX✓✔☑✅]|done|yes|y|ok|okay|pass(ed)?|go|complete[d]?|verified)$", re.I)


def table_item(cells: list[str], aside: frozenset[int] = frozenset()) -> tuple[str, bool | None] | None:
    """A row with a tick box or a blank: the cells that say what, without the ``aside`` columns (owner,
    notes, date) unless those are all the row says (``| Security | ____ |`` under ``Team | Signature``)."""
    boxes = [c for c in cells if BOX_CELL.match(c)]
    blanks = [c for c in cells if BLANK_FIELD.fullmatch(c)]
    if not boxes and not blanks:
        return None
    said = [(i, plain_text(c)) for i, c in enumerate(cells) if not PLACEHOLDER_CELL.match(c) and not BOX_CELL.match(c)]
    said = [(i, w) for i, w in said if w]
    words = [w for i, w in said if i not in aside] or [w for _, w in said]
    if not words:
        return None
    checked = None if not boxes else all(b[1] in "xX✓✔" for b in boxes)
    return " | ".join(words), checked


def status_row(cells: list[str], status: int, aside: frozenset[int]) -> tuple[str, bool | None] | None:
    """A row of a table with a status column: the cells that say what (not the status, not a bare
    row number, not the ``aside`` columns: owner, notes, date), and whether the status cell claims
    it done (True), leaves it open (False: empty or a placeholder) or says something else (None)."""
    if status >= len(cells):
        return None  # a row without the status cell is not one of the table's rows to check
    words = [plain_text(c) for i, c in enumerate(cells)
             if i != status and i not in aside and not PLACEHOLDER_CELL.match(c) and not c.strip().isdigit()]
    words = [w for w in words if w]
    if not words:
        return None
    mark = cells[status].strip()
    checked = True if DONE_CELL.match(mark) else False if PLACEHOLDER_CELL.match(mark) else None
    return " | ".join(words), checked


def is_status_header(cell: str) -> bool:
    """Whether a header cell names a status column, also as teams write it: "Done?", "Status (Y/N)",
    "Checked ✓", "✓/✗"."""
    text = plain_text(cell).strip()
    text = re.sub(r"\s*\([^()]*\)$", "", text).rstrip("?:").strip()
    bare = re.sub(r"\s*[✓✔☑☐✅✗✘❌]+$", "", text).strip()
    return bool(STATUS_HEADER.match(bare or text)) or bool(re.fullmatch(r"[✓✔☑☐✅✗✘❌]+(?:\s*/\s*[✓✔☑☐✅✗✘❌]+)*", text))
