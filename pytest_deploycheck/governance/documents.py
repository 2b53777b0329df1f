"""The deployed repository's documents, as the governance checks read them.

A governance item is often half verifiable: a person must vouch that the rollback plan works,
but a machine can see that there is one.  ``find_document`` looks in a ``files`` target for a
dedicated file (``ROLLBACK.md``, at the top or under ``docs/``) or, failing that, a section of
the runbook whose heading names the topic (``## Rolling back``), and counts the lines of text
it holds: a file with only a title documents nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pytest_deploycheck.outcomes import Evidence, fail, require

RUNBOOKS = ("RUNBOOK.md", "runbook.md", "OPERATIONS.md", "operations.md", "RUNBOOK.rst", "RUNBOOK.txt")

_ATX = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_SETEXT = re.compile(r"^\s{0,3}(=+|-+)\s*$")


class HasFiles(Protocol):
    @property
    def path(self) -> Path: ...

    def find(self, *names: str) -> Path | None: ...


@dataclass(frozen=True)
class Document:
    """A file, or one section of it, and how many lines of text it holds."""

    path: Path
    heading: str | None  # None: the whole file
    text: str
    text_lines: int  # lines that are neither blank nor headings

    def describe(self, root: Path) -> str:
        try:
            name = str(self.path.relative_to(root))
        except ValueError:
            name = str(self.path)
        return f"{name} § {self.heading}" if self.heading else name


def headings(lines: Sequence[str]) -> list[tuple[int, int, str]]:
    """(line index, level, title) of every Markdown heading, ATX (``## x``) or setext (underlined)."""
    found = []
    fenced = False
    for i, line in enumerate(lines):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        if fenced:
            continue
        match = _ATX.match(line)
        if match:
            found.append((i, len(match.group(1)), match.group(2)))
        elif i + 1 < len(lines) and line.strip() and _SETEXT.match(lines[i + 1]) and not _ATX.match(line):
            found.append((i, 1 if lines[i + 1].strip().startswith("=") else 2, line.strip()))
    return found


def _text_lines(lines: Sequence[str], skip: set[int]) -> int:
    return sum(1 for i, line in enumerate(lines) if i not in skip and line.strip() and not _SETEXT.match(line))


def read_document(path: Path) -> Document:
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = text.splitlines()
    return Document(path, None, text, _text_lines(lines, {i for i, _, _ in headings(lines)}))


def read_section(path: Path, topic: re.Pattern[str]) -> Document | None:
    """The first section of ``path`` whose heading matches ``topic``, up to the next heading of
    the same or a higher level."""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    marks = headings(lines)
    for n, (start, level, title) in enumerate(marks):
        if not topic.search(title):
            continue
        end = next((i for i, lvl, _ in marks[n + 1:] if lvl <= level), len(lines))
        section = lines[start + 1:end]
        inner = {i - start - 1 for i, _, _ in marks if start < i < end}
        return Document(path, title, "\n".join(section), _text_lines(section, inner))
    return None


def find_document(files: HasFiles, names: Sequence[str], topic: re.Pattern[str] | None = None,
                  books: Sequence[str] = RUNBOOKS) -> Document | None:
    """A dedicated file among ``names``, else a section of the runbook whose heading matches ``topic``."""
    path = files.find(*names) if names else None
    if path is not None and path.is_file():
        return read_document(path)
    if topic is None:
        return None
    for book in books:
        found = files.find(book)
        if found is not None and found.is_file():
            section = read_section(found, topic)
            if section is not None:
                return section
    return None


def missing_terms(document: Document, terms: dict[str, re.Pattern[str]]) -> list[str]:
    """The terms (by name) that ``document`` does not mention."""
    return [name for name, pattern in terms.items() if not pattern.search(document.text)]


MIN_TEXT_LINES = 3  # a title and a "TODO" line are not a procedure


def require_document(files: HasFiles, evidence: Evidence, names: Sequence[str], topic: re.Pattern[str] | None, what: str) -> Document:
    """Fail unless the repository holds ``what`` (a file among ``names`` or a runbook section
    matching ``topic``) with some text in it; record where it was found."""
    __tracebackhide__ = True
    doc = find_document(files, names, topic)
    if doc is None:
        looked = [f"no {' / '.join(names)} (top level, docs/ or doc/)"] if names else []
        if topic is not None:
            looked.append(f"no runbook section ({RUNBOOKS[0]}, {RUNBOOKS[2]}) whose heading matches '{topic.pattern}'")
        fail(files, f"no {what}: {' and '.join(looked)}", f"{_article(what)} {what} in the deployed repository")
    name = doc.describe(files.path)
    evidence.record(document=name, text_lines=doc.text_lines)
    require(doc.text_lines >= MIN_TEXT_LINES, files, f"{name} holds {doc.text_lines} line(s) of text",
            f"{_article(what)} {what} of at least {MIN_TEXT_LINES} lines")
    return doc


def _article(noun: str) -> str:
    return "an" if noun[:1].lower() in "aeiou" else "a"
