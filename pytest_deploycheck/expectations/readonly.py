"""What an expectation may send: one read-only SQL statement, Redis read commands from an allow-list.

The SQL guard is lexical and strict: comments and string literals are set aside, then the text must be
one statement (a trailing ``;`` at most) that starts with SELECT, WITH or SHOW and names no keyword
that writes or locks.  The statement also runs in a read-only transaction with the statement timeout
(the postgres and mysql handles), so a guard that let a write through would still not write.
"""

from __future__ import annotations

import re

REDIS_READ_COMMANDS = frozenset({"GET", "EXISTS", "TTL", "PTTL", "TYPE", "STRLEN", "LLEN", "SCARD", "ZCARD", "HLEN", "HGET", "XLEN", "INFO"})

_WRITES = ("INSERT", "UPDATE", "DELETE", "MERGE", "INTO", "TRUNCATE", "DROP", "ALTER", "CREATE", "GRANT", "REVOKE",
           # functions that write, wait, signal or read files from inside a SELECT
           "NEXTVAL", "SETVAL", "SET_CONFIG", "PG_SLEEP", "PG_SLEEP_FOR", "SLEEP", "BENCHMARK", "PG_TERMINATE_BACKEND",
           "PG_CANCEL_BACKEND", "LO_IMPORT", "LO_EXPORT", "PG_READ_FILE", "PG_READ_BINARY_FILE", "PG_LS_DIR", "DBLINK", "DBLINK_EXEC",
           "LOAD_FILE", "GET_LOCK", "PG_ADVISORY_LOCK", "PG_ADVISORY_XACT_LOCK")
_LEXEME = re.compile(r"""--[^\n]*|/\*.*?\*/|'(?:[^']|'')*'|"(?:[^"]|"")*"|`[^`]*`|\$\$.*?\$\$""", re.S)


def sql_problem(query: str) -> str | None:
    """None when ``query`` is one read-only statement, else what is wrong and the fix."""
    text = _LEXEME.sub(lambda m: " " if m.group(0)[:2] in ("--", "/*") else " '' ", query).strip()
    if not text:
        return "empty statement; write one SELECT, WITH or SHOW"
    if text.endswith(";"):
        text = text[:-1].rstrip()
    if ";" in text:
        return "more than one statement; an expectation runs exactly one SELECT, WITH or SHOW"
    words = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text)
    first = words[0].upper() if words else ""
    if first not in ("SELECT", "WITH", "SHOW"):
        return f"starts with {first or text[:10]!r}; an expectation may only read: one SELECT, WITH or SHOW statement"
    upper = {w.upper() for w in words}
    bad = [w for w in _WRITES if w in upper]
    if bad:
        return f"names {', '.join(bad)}: an expectation may only read (no writes, locks, sleeps or file access); rewrite it as a plain query"
    if re.search(r"\bFOR\s+(UPDATE|SHARE|NO\s+KEY\s+UPDATE|KEY\s+SHARE)\b", text, re.I):
        return "takes row locks (FOR UPDATE/SHARE); an expectation may only read without locking"
    return None
