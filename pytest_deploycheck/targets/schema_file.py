"""A plain SQL schema file (``schema.sql``), read for its tables, columns and indexes.

pg-24 compares the live schema with the file a team without a migration tool applies by hand.
The file is never executed: this small, tolerant parser reads its ``CREATE TABLE`` and
``CREATE INDEX`` statements (comments, quoting, ``IF NOT EXISTS``, schema-qualified names,
dollar-quoted function bodies) and skips every other statement.  Names follow PostgreSQL's
rules: unquoted identifiers fold to lower case, quoted ones keep theirs, and ``public.`` is
dropped so ``"public"."orders"`` and ``orders`` are the same table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: Largest schema file read.
MAX_BYTES = 4 * 1024 * 1024

# Table-level items of a CREATE TABLE body that are not columns.
_NOT_A_COLUMN = {"constraint", "primary", "unique", "foreign", "check", "exclude", "like", "key", "index", "fulltext", "spatial"}
_IDENT = r'(?:"(?:[^"]|"")+"|`[^`]+`|[A-Za-z_][A-Za-z0-9_$]*)'
_NAME = rf"{_IDENT}(?:\s*\.\s*{_IDENT})?"
_CREATE_TABLE = re.compile(rf"^CREATE\s+(?:(?:GLOBAL|LOCAL)\s+)?(?:(?:TEMP|TEMPORARY|UNLOGGED)\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?"
                           rf"(?P<name>{_NAME})\s*\((?P<body>.*)\)[^)]*$", re.I | re.S)
_CREATE_INDEX = re.compile(rf"^CREATE\s+(?P<unique>UNIQUE\s+)?INDEX\s+(?:CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?(?P<name>{_NAME})?\s*"
                           rf"ON\s+(?:ONLY\s+)?(?P<table>{_NAME})\s*(?:USING\s+\w+\s*)?\((?P<columns>.*?)\)", re.I | re.S)


@dataclass
class Schema:
    """Tables (with their columns, in order) and named indexes (table, column expressions)."""

    tables: dict[str, list[str]] = field(default_factory=dict)
    indexes: dict[str, tuple[str, str]] = field(default_factory=dict)


def parse_schema(text: str) -> Schema:
    schema = Schema()
    for statement in split_statements(text):
        table = _CREATE_TABLE.match(statement)
        if table:
            schema.tables[normalize(table.group("name"))] = _columns(table.group("body"))
            continue
        index = _CREATE_INDEX.match(statement)
        if index and index.group("name"):
            schema.indexes[normalize(index.group("name"))] = (normalize(index.group("table")), index_columns(index.group("columns")))
    return schema


def normalize(name: str) -> str:
    """``"public"."Orders"`` -> ``Orders``; ``Public.ORDERS`` -> ``orders``; ``app.t`` stays ``app.t``."""
    parts = [p.strip() for p in re.findall(_IDENT, name)]
    folded = [p[1:-1].replace('""', '"') if p[0] in '"`' else p.lower() for p in parts]
    if len(folded) == 2 and folded[0] == "public":
        folded = folded[1:]
    return ".".join(folded)


def index_columns(text: str) -> str:
    """An index's key list, comparable: plain column names normalized, expressions as written."""
    return ", ".join(normalize(c) if re.fullmatch(_IDENT, c.strip()) else " ".join(c.split()) for c in split_top_level(text))


def _columns(body: str) -> list[str]:
    columns = []
    for item in split_top_level(body):
        match = re.match(_IDENT, item.strip())
        if match is None:
            continue
        word = match.group(0)
        if word[0] not in '"`' and word.lower() in _NOT_A_COLUMN:
            continue
        columns.append(normalize(word))
    return columns


def split_top_level(text: str) -> list[str]:
    """Split on commas outside parentheses and quotes."""
    parts: list[str] = []
    current: list[str] = []
    depth, quote = 0, ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"`":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def split_statements(text: str) -> list[str]:
    """The file's statements, without comments; ``;`` inside quotes or $$ bodies does not split."""
    statements: list[str] = []
    current: list[str] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if text.startswith("--", i):
            i = _after(text, "\n", i)
            continue
        if text.startswith("/*", i):
            i = _after(text, "*/", i + 2)
            current.append(" ")
            continue
        if char in "'\"`":
            end = i + 1
            while end < n and not (text[end] == char and not text.startswith(char * 2, end)):
                end += 2 if text.startswith(char * 2, end) else 1
            current.append(text[i:end + 1])
            i = end + 1
            continue
        dollar = re.match(r"\$[A-Za-z_]*\$", text[i:i + 64]) if char == "$" else None
        if dollar:
            end = _after(text, dollar.group(0), i + len(dollar.group(0)))
            current.append(text[i:end])
            i = end
            continue
        if char == ";":
            statements.append("".join(current).strip())
            current = []
        else:
            current.append(char)
        i += 1
    statements.append("".join(current).strip())
    return [s for s in statements if s]


def _after(text: str, marker: str, start: int) -> int:
    found = text.find(marker, start)
    return len(text) if found == -1 else found + len(marker)
