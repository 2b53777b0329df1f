"""Read a team's own Markdown go-live checklist into items.

What counts as an item:

- a task-list line, at any nesting depth: ``- [ ]``, ``- [x]``, ``* [ ]``, ``+ [ ]``, ``1. [ ]``,
  ``1) [ ]`` (the tick is recorded, but means nothing: a tick is a claim, not evidence); also as other
  editors write them: a bare ``[ ] item``, ``- [-]`` / ``- [/]`` / ``- [~]`` (in progress), ``1.1 [ ]``,
  ``a) [ ]``, ``• [ ]``, a status emoji instead of the box (``✅ item``, ``- ❌ item``), inside a block
  quote; an indented line right after an item continues its text;
- a sign-off line with blanks to fill in: ``Engineering Lead: ______``, ``- Approved by: ____ Date: ____``,
  ``**QA Sign-off**: _____`` (a line that is only a date or a "last updated" field is not an item:
  it records when, not whether);
- a table row with a tick box or a blank in one of its cells (sign-off tables: ``| Security | ____ | [ ] |``),
  and every row of a table whose header names a status column (``Status``, ``Done``, ``OK``, ``Result``,
  ``Go/No-Go``, ...), filled in or not (``| 1 | TLS certificate valid | SRE | |``);
- when a file has none of those, every list line: ``- TLS certificate valid``, ``1. Rollback plan?``
  (a team that writes its list without boxes still gets its own list; a warning says so).

Headings of any level, ATX (``## Security``) and setext (a line underlined with ``===`` or ``---``), are
the sections, and so are a line that is all bold (``**Security**``) and a plain list line with boxes
nested under it (``1. Security``); an item's section path is the stack of headings above it.  Lines
inside fenced code blocks (```` ``` ```` and ``~~~``), HTML comments and a YAML/TOML front matter block
are never items.  Inline Markdown is read by ``inline.py``, tables' columns by ``tables.py``.

    checklist = parse_file("GO_LIVE.md")
    for item in checklist.items:
        print(item.line, " > ".join(item.section), item.plain)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pytest_deploycheck.checklist.inline import BLANK_FIELD, plain_text, slug
from pytest_deploycheck.checklist.tables import (
    ASIDE_HEADER,
    CATEGORY_HEADER,
    FIELD_ONLY,
    ITEM_HEADER,
    PLACEHOLDER_CELL,
    SIGNATURE_HEADER,
    is_status_header,
    status_row,
    table_item,
)

# Bounds: a checklist is a page or a few, not a data file.  Past these we refuse with a clear message rather
# than spend minutes matching a log file someone passed by mistake.
MAX_BYTES = 2_000_000
MAX_ITEMS = 3000
MAX_LINE_CHARS = 2000  # longer lines are cut for matching (the original text keeps the cut too)
KEY_TEXT_CHARS = 60
KEY_SECTION_CHARS = 40
UNREAD_SECTIONS_SHOWN = 5  # sections named in the warning about list lines not read as items

ItemKind = Literal["task", "signoff", "table"]


class ChecklistError(ValueError):
    """The file cannot be read as a checklist; the message says what is wrong and where."""


@dataclass(frozen=True)
class Item:
    """One checklist item.

    ``text`` is the item as written after its bullet and box (Markdown intact); ``plain`` the same text
    with emphasis, links, inline code and HTML removed, which is what the matcher reads.  ``section`` is
    the heading path (plain text, outermost first).  ``parent`` is the ``key`` of the enclosing item of a
    nested list, if any.  ``checked`` is None for sign-off lines and table rows without a box.
    """

    key: str
    text: str
    plain: str
    line: int
    section: tuple[str, ...]
    kind: ItemKind
    checked: bool | None
    depth: int = 0
    parent: str | None = None


@dataclass(frozen=True)
class Checklist:
    source: str
    items: tuple[Item, ...]
    warnings: tuple[str, ...] = field(default=())
    encoding: str = "utf-8"

    def by_key(self) -> dict[str, Item]:
        return {item.key: item for item in self.items}

    def sub_items(self) -> dict[str, int]:
        """How many items each item has directly under it (a group is judged by them)."""
        counts: dict[str, int] = {}
        for item in self.items:
            if item.parent:
                counts[item.parent] = counts.get(item.parent, 0) + 1
        return counts


# ---------------------------------------------------------------------------------------------- reading

_BOMS: tuple[tuple[bytes, str], ...] = (
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)


def decode(data: bytes, source: str = "<bytes>") -> tuple[str, str, list[str]]:
    """Bytes to text: a BOM wins, then strict UTF-8, then Windows-1252 (what editors on Windows save);
    returns (text, encoding, warnings).  Never fails on odd bytes: a checklist with one bad byte is still
    a checklist."""
    warnings: list[str] = []
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding), encoding, warnings
            except UnicodeDecodeError:
                break
    if b"\x00" in data[:4096]:
        raise ChecklistError(f"{source}: looks like a binary file (NUL bytes), not a Markdown checklist")
    try:
        return data.decode("utf-8"), "utf-8", warnings
    except UnicodeDecodeError as exc:
        warnings.append(f"{source}: not valid UTF-8 (byte {exc.start}); read as Windows-1252, undecodable bytes replaced")
    return data.decode("cp1252", errors="replace"), "cp1252", warnings


def parse_file(path: str | Path) -> Checklist:
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_BYTES:
            raise ChecklistError(f"{p}: {size} bytes; a checklist may be at most {MAX_BYTES} bytes (is this the right file?)")
        data = p.read_bytes()
    except OSError as exc:
        raise ChecklistError(f"{p}: cannot read: {exc.strerror or exc}") from None
    return parse_bytes(data, str(p))


def parse_bytes(data: bytes, source: str = "<bytes>") -> Checklist:
    if len(data) > MAX_BYTES:
        raise ChecklistError(f"{source}: {len(data)} bytes; a checklist may be at most {MAX_BYTES} bytes")
    text, encoding, warnings = decode(data, source)
    result = parse_text(text, source)
    return Checklist(result.source, result.items, tuple(warnings) + result.warnings, encoding)


# ---------------------------------------------------------------------------------------------- inline text

# ---------------------------------------------------------------------------------------------- block structure

_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})(.*)$")
_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
# A box: "- [ ]", "1. [x]", a bare "[ ] item" (plain-text lists), the in-progress marks of some editors
# ("- [-]", "- [/]", "- [~]"), and "- [ ]item" with the space forgotten.  Only x and the ticks are done.
# Bullets as pasted from word processors (•, ◦, ▪, ‣, –), outline numbers ("1.1", "(3)") and lettered
# steps ("a) [ ]") count before a box.
_TASK = re.compile(r"^(?P<indent>[ \t]*)(?:(?:[-*+•◦▪‣–]|\d{1,9}(?:\.\d{1,3})*\.?\)?|\(\d{1,3}\)|[A-Za-z][.)])[ \t]+)?"
                   r"\[(?P<box>[ xX✓✔/~-])\][ \t]*(?P<text>[^\s(:].*)$")
_DONE_BOXES = "xX✓✔"
#: "- [] Item": a box typed without its space, after a bullet only ("[] returns nothing" in prose is no item).
_EMPTY_BOX = re.compile(r"^(?P<indent>[ \t]*)[-*+][ \t]+\[\][ \t]*(?P<text>[^\s(:].*)$")
_BULLET = re.compile(r"^(?P<indent>[ \t]*)(?:[-*+•◦▪‣–]|\d{1,9}[.)])[ \t]+(?P<text>.*)$")
#: Status marks some teams use for boxes, at the start of a line or after its bullet: "✅ Backups
#: nightly", "- ❌ WAF rules".  The first five mean done (which, like a ticked box, decides nothing).
_DONE_MARKS = "✅☑✔🟢✓"
_MARKS = _DONE_MARKS + "☐⬜🔲❌✗✘⏳🟡🔴⭕"
_EMOJI_TASK = re.compile(rf"^(?P<indent>[ \t]*)(?:(?:[-*+•◦▪‣–]|\d{{1,9}}[.)])[ \t]+)?(?P<box>[{_MARKS}])\uFE0F?[ \t]+(?P<text>\S.*)$")
#: A line with its box at the end: "- Backups nightly [ ]", "1. TLS valid [x]", "Redis password: ☐".
_TRAILING_BOX = re.compile(rf"^(?P<indent>[ \t]*)(?:(?:[-*+•◦▪‣–]|\d{{1,9}}[.)])[ \t]+)?(?P<text>[\w*_`\"'].*?)[ \t]+"
                           rf"(?:\[(?P<box>[ xX✓✔/~-])\]|(?P<mark>[{_MARKS}])\uFE0F?)$")
_QUOTE = re.compile(r"^ {0,3}(?:>[ \t]?)+")
#: A line that is all bold, as Notion, Confluence and Google Docs export a heading ("**Security**"):
#: a heading under the current one.  A bold sentence ("**Note: freeze deploys first.**") is not.
_BOLD_HEADING = re.compile(r"^ {0,3}(\*\*|__)(?P<title>[^*_\s][^*_]{0,58}?)\1:?[ \t]*$")
PSEUDO_HEADING_LEVEL = 7  # under any "#" heading; the next real heading ends it
LIST_HEADING_LEVEL = 8  # a plain list line over boxes: under those, the first of its nesting
_THEMATIC = re.compile(r"^ {0,3}((\*[ \t]*){3,}|(-[ \t]*){3,}|(_[ \t]*){3,})$")
#: A task whose words are struck through (the first run of words, ~~like this~~, then at most an aside).
_STRUCK = re.compile(r"^\s*~~[^~].*?~~\s*(\([^()]*\)|[—–-].*)?\s*$")
_TABLE_SEP = re.compile(r"^[ \t]*\|?[ \t]*:?-{2,}:?[ \t]*(\|[ \t]*:?-{2,}:?[ \t]*)*\|?[ \t]*$")


def _indent_width(indent: str) -> int:
    return len(indent.expandtabs(4))


def _strip_comments(line: str, in_comment: bool) -> tuple[str, bool]:
    """Remove HTML comment text from one line; returns (visible text, still inside a comment)."""
    out: list[str] = []
    pos = 0
    while pos <= len(line):
        if in_comment:
            end = line.find("-->", pos)
            if end < 0:
                return "".join(out), True
            pos = end + 3
            in_comment = False
        else:
            start = line.find("<!--", pos)
            if start < 0:
                out.append(line[pos:])
                break
            out.append(line[pos:start])
            pos = start + 4
            in_comment = True
    return "".join(out), in_comment


def _signoff(line: str) -> str | None:
    """The label text of a fill-in sign-off line, or None when the line is not one."""
    if not BLANK_FIELD.search(line):
        return None
    bullet = _BULLET.match(line)
    body = bullet.group("text") if bullet else line.strip()
    if body.startswith("|"):
        return None  # a table row: handled as one
    # Every label before a blank: "Approved by: ____ Date: ____" -> ["Approved by", "Date"].
    labels = [plain_text(part).strip(" :*-—") for part in BLANK_FIELD.split(body)]
    labels = [label for label in labels if label]
    if not labels or not re.search(r"[A-Za-z]", labels[0]):
        return None
    if all(FIELD_ONLY.match(label) for label in labels):
        return None
    return plain_text(body)


def _unread_sections(source: str, loose: list[tuple[str, int, tuple[str, ...], int]],
                     read: set[tuple[str, ...]]) -> list[str]:
    """A warning for the list lines of sections without a single item, in a file whose other
    sections have boxes: they are not read (a procedure's steps, a list of requirements look the
    same), and the team is told where, so a list written without boxes is not dropped unnoticed."""
    unread: dict[tuple[str, ...], list[int]] = {}
    for _, number, section, _ in loose:
        if section not in read:
            unread.setdefault(section, []).append(number)
    if not unread:
        return []
    count = sum(len(lines) for lines in unread.values())
    shown = [f"line {lines[0]} '{' > '.join(section[-1:]) or 'before the first heading'}': {len(lines)}"
             for section, lines in list(unread.items())[:UNREAD_SECTIONS_SHOWN]]
    more = len(unread) - len(shown)
    where = "; ".join(shown) + (f"; and {more} more section{'s' if more > 1 else ''}" if more > 0 else "")
    first = min(lines[0] for lines in unread.values())
    return [f"{source}:{first}: {count} list line{'s' if count > 1 else ''} without a task box, in sections with no "
            f"other item, not read as items ({where}); write an item as '- [ ] ...' to have it checked"]


def _loose_items(loose: list[tuple[str, int, tuple[str, ...], int]], key_for: Callable[[tuple[str, ...], str], str],
                 ) -> list[tuple[str, str, int, tuple[str, ...], ItemKind, bool | None, int, str | None]]:
    """List lines without a box as task items, nested as their indentation says (a file without any
    other kind of item: its keys are not shared with any)."""
    out: list[tuple[str, str, int, tuple[str, ...], ItemKind, bool | None, int, str | None]] = []
    open_items: list[tuple[int, str, tuple[str, ...]]] = []
    for body, number, section, width in loose:
        while open_items and (open_items[-1][0] >= width or open_items[-1][2] != section):
            open_items.pop()
        key = key_for(section, plain_text(body))
        out.append((key, body, number, section, "task", None, len(open_items), open_items[-1][1] if open_items else None))
        open_items.append((width, key, section))
    return out


def _split_lines(text: str) -> list[str]:
    # Not str.splitlines(): it also breaks on form feeds and U+2028, which would shift line numbers
    # away from what the user's editor shows.
    return re.split(r"\r\n|\r|\n", text)


def _front_matter_blanked(lines: list[str]) -> list[str]:
    """The lines with a YAML (``---``) or TOML (``+++``) front matter block at the top blanked out
    (line numbers kept): a docs site's metadata, not a heading over the first items."""
    if not lines or lines[0].strip() not in ("---", "+++"):
        return lines
    fence = lines[0].strip()
    for end in range(1, min(len(lines), 100)):
        if lines[end].strip() in (fence, "...") and end > 1:
            inside = [line for line in lines[1:end] if line.strip()]
            # Metadata ("title: Go-live"), not a rule over the first items: no box, heading or list in it.
            if any(re.match(r"^[A-Za-z_][\w.-]*[ \t]*[:=]", line) for line in inside) and not any(
                    _TASK.match(line) or _ATX.match(line) or _BULLET.match(line) for line in inside):
                return [""] * (end + 1) + lines[end + 1:]
            return lines
    return lines


def parse_text(text: str, source: str = "<text>") -> Checklist:
    """Parse checklist Markdown; raises ChecklistError when it holds no item at all."""
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = _front_matter_blanked(_split_lines(text))
    warnings: list[str] = []
    headings: list[tuple[int, str]] = []  # (level, plain title)
    open_items: list[tuple[int, str]] = []  # (indent width, key) of enclosing task items
    raw: list[tuple[str, str, int, tuple[str, ...], ItemKind, bool | None, int, str | None]] = []
    fence: tuple[str, int, int] | None = None  # (char, length, opening line)
    in_comment = False
    comment_line = 0
    prev_paragraph: tuple[int, str] | None = None  # the previous line, if it could be a setext heading's text
    seen: dict[str, int] = {}
    status_column: int | None = None  # the current table's status column, if its header has one
    aside_columns: frozenset[int] = frozenset()  # and its owner, notes and date columns
    category_column: int | None = None  # and its area or category column: a section of its own
    signature_column: int | None = None  # a sign-off table's signature column: every row is someone to sign
    name_columns: frozenset[int] = frozenset()  # and who signed, left out of what the row names
    loose: list[tuple[str, int, tuple[str, ...], int]] = []  # list lines without a box: (text, line, section, indent)
    struck: list[int] = []  # task lines struck through
    task_end: tuple[int, int] | None = None  # the last task item (index in raw) and its last line so far
    # Plain list lines with boxes nested under them ("1. Security" over "   - [ ] TLS valid") head
    # those items like a heading: their indents, innermost last (their titles are on ``headings``).
    list_heads: list[int] = []
    item_table = False  # the current table has a column naming items (| Item | Owner |)
    bare_table = False  # the current table writes its rows without outer pipes (Check | Owner | Done)
    table_width = 0  # the current table's header cells
    unread_rows: list[tuple[int, tuple[str, ...]]] = []  # rows of such a table without a status column

    def set_heading(level: int, title: str) -> None:
        nonlocal open_items
        list_heads.clear()
        while headings and headings[-1][0] >= level:
            headings.pop()
        headings.append((level, plain_text(title)))
        open_items = []

    def end_list_heads(width: int) -> None:
        """A list line at ``width`` is no longer under the list heads at that indent or deeper."""
        while list_heads and list_heads[-1] >= width:
            list_heads.pop()
            headings.pop()

    def heads_boxes(number: int, width: int) -> bool:
        """Whether the next non-blank line after ``number`` is a box nested deeper than ``width``."""
        for following in lines[number:number + 50]:
            if not following.strip():
                continue
            nested = _TASK.match(following) or _EMOJI_TASK.match(following)
            return bool(nested and _indent_width(nested.group("indent")) > width)
        return False

    def key_for(section: tuple[str, ...], body: str) -> str:
        base = "--".join(p for p in (slug(section[-1], KEY_SECTION_CHARS) if section else "", slug(body, KEY_TEXT_CHARS)) if p)
        base = base or "item"
        count = seen.get(base, 0) + 1
        seen[base] = count
        return base if count == 1 else f"{base}-{count}"

    for number, full in enumerate(lines, start=1):
        # A list inside a block quote ("> - [ ] ...") is a list all the same (GitHub renders its boxes).
        line = _QUOTE.sub("", full[:MAX_LINE_CHARS])
        if fence is not None:
            m = _FENCE.match(line)
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= fence[1] and not m.group(2).strip():
                fence = None
            continue
        opening = None if in_comment else _FENCE.match(line)
        # A backtick fence's info string may not hold a backtick (CommonMark); such a line is inline code.
        if opening and not (opening.group(1)[0] == "`" and "`" in opening.group(2)):
            fence = (opening.group(1)[0], len(opening.group(1)), number)
            prev_paragraph = None
            continue
        was_in_comment = in_comment
        line, in_comment = _strip_comments(line, in_comment)
        if in_comment and not was_in_comment:
            comment_line = number
        if not line.strip():
            prev_paragraph = None
            bare_table = False  # a blank line ends a table
            continue

        atx = _ATX.match(line)
        if atx:
            set_heading(len(atx.group(1)), atx.group(2) or "")
            prev_paragraph = None
            continue
        setext = _SETEXT.match(line)
        if setext and prev_paragraph is not None and prev_paragraph[0] == number - 1:
            set_heading(1 if setext.group(1).startswith("=") else 2, prev_paragraph[1])
            prev_paragraph = None
            continue
        if _THEMATIC.match(line):
            prev_paragraph = None
            continue
        bold = _BOLD_HEADING.match(line)
        if bold and not bold.group("title").rstrip().endswith((".", "!", "?")):
            set_heading(PSEUDO_HEADING_LEVEL, bold.group("title").strip().rstrip(":").strip())
            prev_paragraph = None
            continue

        if list_heads and not line[:1].isspace() and not (_BULLET.match(line) or _TASK.match(line) or _EMOJI_TASK.match(line)):
            end_list_heads(0)  # a table, a sign-off line or a paragraph at the margin: the list is over
        section = tuple(title for _, title in headings)
        stripped = line.strip()
        # GFM tables may leave out the outer pipes: a line with a pipe over a delimiter row starts one,
        # and its rows are table rows even where they end in a mark ("TLS valid | ops | ✅").
        below = lines[number][:MAX_LINE_CHARS] if number < len(lines) else ""
        # As GFM: the delimiter row has as many cells as the header ("a | b" over "---" is a setext heading).
        bare_header = "|" in stripped and bool(_TABLE_SEP.match(below)) and below.strip().strip("|").count("|") == stripped.strip("|").count("|")
        bare_table = "|" in stripped and (bare_table or bare_header) and not stripped.startswith("|")
        task = None if bare_table else _TASK.match(line)
        if task is None and not bare_table:
            marked = _EMOJI_TASK.match(line)
            # A legend ("✅ done, ❌ open") names marks, it is not an item.
            if marked and not any(mark in marked.group("text") for mark in _MARKS):
                task = marked
            elif empty := _EMPTY_BOX.match(line):
                task = _TASK.match(f"{empty.group('indent')}- [ ] {empty.group('text')}")  # "- [] Item": an open box typed short
            elif trailing := _TRAILING_BOX.match(line):
                # Read as the same line with its box in front.
                done = (trailing.group("box") or trailing.group("mark")) in _DONE_BOXES + _DONE_MARKS
                task = _TASK.match(f"{trailing.group('indent')}- [{'x' if done else ' '}] {trailing.group('text').rstrip(' :')}")
        if task and _STRUCK.match(task.group("text")):
            struck.append(number)  # "- [ ] ~~Set up Memcached~~ (dropped)": taken off the list by its team
            continue
        if task:
            width = _indent_width(task.group("indent"))
            end_list_heads(width)
            section = tuple(title for _, title in headings)
            while open_items and open_items[-1][0] >= width:
                open_items.pop()
            body = task.group("text").strip()
            key = key_for(section, plain_text(body))
            parent = open_items[-1][1] if open_items else None
            raw.append((key, body, number, section, "task", task.group("box") in _DONE_BOXES + _DONE_MARKS, len(open_items), parent))
            open_items.append((width, key))
            task_end = (len(raw) - 1, number)
            prev_paragraph = None
            continue

        stripped = line.strip()
        if not stripped.startswith("|") and not bare_table:
            status_column = None  # the table, if any, ended
            aside_columns = frozenset()
            category_column = None
            signature_column = None
            item_table = False
        if stripped.startswith("|") or bare_table:
            cells = [c.strip() for c in stripped.strip("|").split("|")]
            header = number < len(lines) and _TABLE_SEP.match(lines[number][:MAX_LINE_CHARS])
            if bare_table and not header:
                cells += [""] * (table_width - len(cells))  # "Backups nightly | dba |": the empty status cell
            if header:
                table_width = len(cells)
                status_column = next((i for i, c in enumerate(cells) if is_status_header(c)), None)
                aside_columns = frozenset(i for i, c in enumerate(cells) if ASIDE_HEADER.match(plain_text(c).strip()))
                category_column = next((i for i, c in enumerate(cells) if CATEGORY_HEADER.match(plain_text(c).strip())), None)
                signature_column = next((i for i, c in enumerate(cells) if SIGNATURE_HEADER.match(plain_text(c).strip())), None)
                name_columns = frozenset(i for i, c in enumerate(cells) if re.match(r"^(names?|signer|person)$", plain_text(c).strip(), re.I))
                item_table = any(ITEM_HEADER.match(plain_text(c).strip()) for c in cells)
                # An area column sorts rows only beside another column that says what (| Component | Status |
                # names the item in its "component" column).
                others = {i for i, c in enumerate(cells) if i not in aside_columns and i not in (status_column, category_column,
                                                                                                   signature_column)}
                if category_column is not None and others:
                    aside_columns |= {category_column}
                else:
                    category_column = None
            # The separator row and the header row above it hold column names, not items.
            if not _TABLE_SEP.match(stripped) and not header:
                # A row's area (| Security | WAF rules enabled | ... |) is a section under the heading.
                area = plain_text(cells[category_column]).strip() if category_column is not None and category_column < len(cells) else ""
                section = (*section, area) if area else section
                found = table_item(cells, aside_columns)
                if found:
                    body, checked = found
                    # Under a status column (| Check | Owner | Done |) a row with a box and no blank to
                    # fill in is a task; else a row to sign (| Security | _____ | [ ] |).
                    blank = any(BLANK_FIELD.fullmatch(c) for c in cells)
                    kind: ItemKind = "task" if status_column is not None and not blank else "table"
                    raw.append((key_for(section, plain_text(body)), body, number, section, kind, checked, 0, None))
                elif status_column is not None and (row := status_row(cells, status_column, aside_columns)):
                    body, checked = row  # a task with a status cell, not a name or date to fill in
                    raw.append((key_for(section, plain_text(body)), body, number, section, "task", checked, 0, None))
                elif signature_column is not None and (row := status_row(cells, signature_column, aside_columns | name_columns)):
                    # | Security | | | | under | Role | Name | Signature | Date |: someone to sign, blank cells or not
                    body, _ = row
                    signed = bool(plain_text(cells[signature_column]).strip()) and not PLACEHOLDER_CELL.match(cells[signature_column])
                    raw.append((key_for(section, plain_text(body)), body, number, section, "table", signed, 0, None))
                elif item_table and status_column is None and signature_column is None and any(plain_text(c).strip() for c in cells):
                    unread_rows.append((number, section))  # | # | Item | Owner |: items, but nothing to tick
            prev_paragraph = None
            continue

        label = _signoff(line)
        if label is not None:
            bullet = _BULLET.match(line)
            body = bullet.group("text").strip() if bullet else stripped
            raw.append((key_for(section, label), body, number, section, "signoff", None, 0, None))
            prev_paragraph = None
            continue

        bullet = _BULLET.match(line)
        if bullet:
            # A plain bullet ends the nesting of task items at its depth or deeper.
            width = _indent_width(bullet.group("indent"))
            while open_items and open_items[-1][0] >= width:
                open_items.pop()
            end_list_heads(width)
            if bullet.group("text").strip() and heads_boxes(number, width):
                headings.append((LIST_HEADING_LEVEL + len(list_heads), plain_text(bullet.group("text").strip()).rstrip(":").strip()))
                list_heads.append(width)
                prev_paragraph = None
                continue
            if bullet.group("text").strip():
                loose.append((bullet.group("text").strip(), number, section, width))
            prev_paragraph = None
            continue
        # An indented line right after an item's (no blank between) continues its text, as Markdown
        # renders it: "- [ ] Backups configured and\n  verified nightly" is one item.  The key stays the
        # first line's.  (An unindented line there is a lazy continuation in CommonMark, but as often a
        # note or a legend of its own: it is left alone.)
        if task_end is not None and task_end[1] == number - 1 and line[:1].isspace():
            index = task_end[0]
            entry = raw[index]
            raw[index] = (entry[0], f"{entry[1]} {stripped}", *entry[2:])
            task_end = (index, number)
            continue
        # Only a paragraph line can be a setext heading's text; a line indented under an item continues it.
        prev_paragraph = (number, stripped) if not line[:1].isspace() else None
        if not line[:1].isspace():
            open_items = []

    if fence is not None:
        warnings.append(f"{source}:{fence[2]}: code fence never closed; the rest of the file was read as code")
    if in_comment:
        warnings.append(f"{source}:{comment_line}: HTML comment never closed; the rest of the file was ignored")
    if struck:
        lines_named = ", ".join(str(n) for n in struck[:10]) + (f" and {len(struck) - 10} more" if len(struck) > 10 else "")
        warnings.append(f"{source}:{struck[0]}: {len(struck)} struck-through item{'s' if len(struck) > 1 else ''} not read "
                        f"(line{'s' if len(struck) > 1 else ''} {lines_named}): taken off the list; remove the ~~ ~~ to check "
                        f"{'them' if len(struck) > 1 else 'it'}")
    if not raw and loose:
        raw = _loose_items(loose, key_for)
        warnings.append(f"{source}: no task boxes ('- [ ]'), sign-off blanks or status columns: every list line "
                        "was read as an item")
    elif loose:
        warnings += _unread_sections(source, loose, {entry[3] for entry in raw})
    if raw and unread_rows:
        first, section = unread_rows[0]
        warnings.append(f"{source}:{first}: {len(unread_rows)} row{'s' if len(unread_rows) > 1 else ''} of a table with an item "
                        f"column but no status column not read as items (first under '{' > '.join(section[-1:]) or 'the top'}'); "
                        "add a Status column, or write each as '- [ ] ...', to have them checked")
    if not raw:
        raise ChecklistError(
            f"{source}: no checklist items found; write each item as a task-list line ('- [ ] TLS certificate valid')"
            " or a sign-off line ('Security lead: ______')"
        )
    if len(raw) > MAX_ITEMS:
        raise ChecklistError(f"{source}: {len(raw)} items; a checklist may hold at most {MAX_ITEMS}")
    items = tuple(
        Item(key=key, text=body, plain=plain_text(body), line=number, section=section, kind=kind, checked=checked,
             depth=depth, parent=parent)
        for key, body, number, section, kind, checked, depth, parent in raw
    )
    return Checklist(source, items, tuple(warnings))
