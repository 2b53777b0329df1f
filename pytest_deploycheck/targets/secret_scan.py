"""Secrets committed to a git repository: the files tracked at HEAD and the lines its recent history added.

Rules in the spirit of gitleaks' defaults: what has a fixed shape (private keys, cloud and SaaS
tokens), env files tracked by git, and, outside docs and tests, a literal assigned to a
password, secret, key or token name that is no placeholder, template or environment reference.
A finding is something to rotate or to list in ``secret_scan_ignore``.  No value ever leaves
this module: a finding names the rule, the file, the line and the commit, never the text that
matched.

git runs read-only and defused for a repository nobody vetted: no hooks, no fsmonitor, no
external diff or textconv driver (each could run a command the repository names), no pager;
git's own ownership check (``safe.directory``) is left in force.  Every call has a deadline
and a cap on what is read.
"""

from __future__ import annotations

import fnmatch
import os
import re
import selectors
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

#: (name, pattern) of what a committed secret looks like.
RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("private key", re.compile(r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |PGP |ENCRYPTED )?PRIVATE KEY(?: BLOCK)?-----")),
    ("AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("GitHub token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{60,})\b")),
    ("GitLab token", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}\b")),
    ("Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b")),
    ("Stripe live key", re.compile(r"\b[rs]k_live_[A-Za-z0-9]{20,}\b")),
    ("Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("npm token", re.compile(r"\bnpm_[A-Za-z0-9]{36}\b")),
    ("SendGrid key", re.compile(r"\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}\b")),
)
#: A literal assigned to a name that says password, secret, API key or token (``DB_PASSWORD =
#: "..."``, ``password: s3cr3t``): judged outside docs and tests, and only when the value is
#: not a placeholder, a template or a reference to the environment.
_NAME = r"[\w.-]*(?:password|passwd|secret|api[_-]?key|apikey|access[_-]?token|auth[_-]?token|private[_-]?key)[\w.-]*"
#: In code: a quoted literal right after the assignment.  In configuration files also a bare value.
GENERIC = re.compile(rf"""(?i)(?<![\w.-])["']?({_NAME})["']?\s*(?:=|:|=>|:=)\s*[rbuf]?["']([^"'\n]{{8,200}})["']""")
GENERIC_BARE = re.compile(rf"""(?i)^\s*(?:export\s+)?({_NAME})\s*[:=]\s*([^\s"'#]{{8,200}})\s*(?:#.*)?$""")
_CONFIG_FILE = re.compile(r"(?i)\.(?:ya?ml|ini|cfg|conf|properties|toml|env)$|(?:^|/)\.env(?:\.[\w-]+)?$")
#: Names that hold where a secret is, or its shape, not the secret (``DB_PASSWORD_FILE``,
#: ``secretName``, ``secret_arn``): snake, kebab or dotted, and camelCase.
_WHERE = ("files?|paths?|dirs?|urls?|uris?|env|names?|fields?|headers?|length|len|polic(?:y|ies)|regex|patterns?|words|ids?|types?|kinds?"
          "|sources?|refs?|versions?|algorithms?|alg|expires?|ttl|rotation|hints?|arns?|namespaces?|mounts?|volumes?|providers?|stores?"
          "|selectors?|labels?|annotations?|keys?ref|templates?|format|prefix|suffix|count|min|max|size|timeout")
_NOT_A_SECRET_NAME = re.compile(rf"(?i:[_.-](?:{_WHERE}))$|[a-z0-9](?:{'|'.join(w[0].upper() + w[1:] for w in _WHERE.split('|'))})$")
_NOT_A_VALUE = re.compile(
    r"(?i)change.?me|example|placeholder|replace|your[-_ ]|dummy|insecure|default|todo|fixme|x{4,}|<[^>]+>|\*{3,}|redacted"
    r"|\$\{|\{\{|%\(|\$[A-Z_]|environ|getenv|process\.env|vault:|^(?:password|passwd|secret|token|api_?key|key)s?$"
    r"|^(?:null|none|true|false|nil|undefined)$|\s")
#: Where the generic rule is not applied: documentation and tests, whose passwords are examples.
_GENERIC_SKIP = re.compile(r"(?i)(?:^|/)(?:tests?|spec|specs|__tests__|fixtures?|testdata|examples?|docs?)/|\.(?:md|rst|txt|adoc)$"
                           r"|(?:_test|\.test|\.spec|_spec)\.\w+$|(?:^|/)test_[^/]*$")
#: Matches that are documentation, not secrets (AWS's own example key, placeholders).
_EXAMPLE = re.compile(r"EXAMPLE|XXXXXXXX|example|0000000000", re.I)
#: Env files that are templates, meant to be committed.
_ENV_TEMPLATE = re.compile(r"\.(?:example|sample|template|dist|defaults?|test|ci)$", re.I)
#: Largest tracked file read at HEAD; larger ones are listed as not read.
MAX_FILE_BYTES = 1 << 20
#: Most bytes of tracked files, and of history, read per scan.
MAX_TOTAL_BYTES = 64 << 20
_GIT_DEFUSED = ("-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false", "-c", "core.pager=cat", "--no-pager")


class ScanError(Exception):
    """git could not be asked (not a repository it will read, missing, too slow): could not look."""


@dataclass(frozen=True)
class Finding:
    rule: str
    path: str
    line: int | None
    commit: str | None  # None: in the file as it is at HEAD

    def describe(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where} ({self.rule}" + (f", added in {self.commit[:10]})" if self.commit else ")")


@dataclass(frozen=True)
class Scan:
    root: str
    findings: tuple[Finding, ...]
    files_read: int
    skipped: tuple[str, ...]  # tracked files not read (too large, unreadable)
    commits: int  # commits whose added lines were read in full
    history_cut: bool  # more history than the scan reads (older commits, or the read cap reached)


def _git(root: Path, *args: str, timeout: float, cap: int | None = None) -> bytes:
    """``git <args>`` in ``root``, defused; its output up to ``cap`` bytes (default ``MAX_TOTAL_BYTES``;
    then stopped), within ``timeout``."""
    cap = MAX_TOTAL_BYTES if cap is None else cap
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_TERMINAL_PROMPT="0", GIT_CONFIG_NOSYSTEM="1", LC_ALL="C")
    try:
        proc = subprocess.Popen(["git", *_GIT_DEFUSED, "-C", str(root), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, env=env)
    except FileNotFoundError:
        raise ScanError("git is not installed where deploycheck runs") from None
    assert proc.stdout is not None
    assert proc.stderr is not None
    deadline = time.monotonic() + timeout
    out, err = bytearray(), bytearray()
    open_pipes = {proc.stdout.fileno(): out, proc.stderr.fileno(): err}
    try:
        with selectors.DefaultSelector() as selector:
            for fd in open_pipes:
                selector.register(fd, selectors.EVENT_READ)
            while open_pipes and len(out) < cap:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ScanError(f"git {args[0]} took longer than {timeout:g}s")
                for key, _ in selector.select(left):
                    chunk = os.read(key.fd, 65536)
                    if not chunk:
                        selector.unregister(key.fd)
                        del open_pipes[key.fd]
                    elif len(open_pipes[key.fd]) < cap:
                        open_pipes[key.fd] += chunk
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    if len(out) >= cap:
        return bytes(out[:cap])
    if proc.returncode != 0:
        lines = err.decode(errors="replace").strip().splitlines()
        fatal = next((line for line in lines if line.startswith(("fatal:", "error:"))), lines[-1] if lines else f"exit status {proc.returncode}")
        raise ScanError(f"git {args[0]} failed: {fatal}")
    return bytes(out)


def match_lines(text: str, path: str) -> Iterable[tuple[str, int]]:
    """(rule, line number) of every secret-shaped match in ``text`` (the file ``path``)."""
    generic = not _GENERIC_SKIP.search(path)
    bare = bool(_CONFIG_FILE.search(path))
    for number, line in enumerate(text.splitlines(), 1):
        for name, pattern in RULES:
            found = pattern.search(line)
            if found and not _EXAMPLE.search(found.group(0)):
                yield name, number
                break
        else:
            if generic and len(line) < 1000:
                found = GENERIC.search(line) or (GENERIC_BARE.search(line) if bare else None)
                if (found and not _NOT_A_SECRET_NAME.search(found.group(1)) and not _NOT_A_VALUE.search(found.group(2))
                        and len(set(found.group(2))) >= 5):
                    yield "hardcoded password or key", number


def _ignored(path: str, ignore: Iterable[str]) -> bool:
    return any(fnmatch.fnmatch(path, pattern) for pattern in ignore)


def in_work_tree(path: Path) -> bool:
    """Whether ``path`` or a folder above it holds ``.git`` (asked before git is: a folder outside
    any repository needs no git installed to say so)."""
    return any((folder / ".git").exists() for folder in (path.resolve(), *path.resolve().parents))


def scan(path: Path, *, history_commits: int, timeout: float, ignore: Iterable[str] = ()) -> Scan:
    """The repository holding ``path``: its tracked files at HEAD and the lines its last
    ``history_commits`` commits (all branches) added.  ``ignore``: globs of repository paths
    not judged (test fixtures holding keys made for the tests)."""
    ignore = tuple(ignore)
    root_out = _git(path, "rev-parse", "--show-toplevel", timeout=timeout, cap=4096)
    root = Path(root_out.decode(errors="replace").strip())
    findings: list[Finding] = []
    skipped: list[str] = []
    listing = _git(root, "ls-files", "-z", timeout=timeout)
    names = [n for n in listing.decode(errors="replace").split("\0") if n]
    if len(listing) >= MAX_TOTAL_BYTES:
        raise ScanError(f"git ls-files listed more than {MAX_TOTAL_BYTES >> 20} MiB of names")
    read = total = 0
    for name in names:
        if _ignored(name, ignore):
            continue
        base = name.rsplit("/", 1)[-1]
        if (base == ".env" or base.startswith(".env.")) and not _ENV_TEMPLATE.search(base):
            findings.append(Finding("env file tracked by git", name, None, None))
        file = root / name
        try:
            info = file.lstat()
            if not file.is_file() or file.is_symlink():
                continue
            if info.st_size > MAX_FILE_BYTES or total + info.st_size > MAX_TOTAL_BYTES:
                skipped.append(name)
                continue
            data = file.read_bytes()
        except OSError:
            skipped.append(name)
            continue
        total += len(data)
        read += 1
        if b"\0" in data[:8192]:
            continue  # binary
        findings.extend(Finding(rule, name, line, None) for rule, line in match_lines(data.decode(errors="replace"), name))
    commits, cut = 0, False
    if history_commits > 0:
        raw = _git(root, "log", "--all", f"--max-count={history_commits + 1}", "-p", "--no-color", "--no-ext-diff", "--no-textconv",
                   "--unified=0", "--format=commit %H", timeout=timeout)
        capped = len(raw) >= MAX_TOTAL_BYTES  # the oldest of those commits were not read
        log = raw.decode(errors="replace")
        at_head = {(f.rule, f.path) for f in findings}
        commit, file_name, new_line = None, "", 0
        seen: set[tuple[str, str, str]] = set()
        for text in log.splitlines():
            if text.startswith("commit ") and len(text) == 47:
                commit = text[7:]
                commits += 1
                continue
            if text.startswith("+++ "):
                file_name = text[6:] if text.startswith("+++ b/") else ""
                continue
            if text.startswith("@@"):
                hunk = re.search(r"\+(\d+)", text)
                new_line = int(hunk.group(1)) if hunk else 0
                continue
            if text.startswith("+") and commit and file_name and not _ignored(file_name, ignore):
                for rule, _ in match_lines(text[1:], file_name):
                    key = (rule, file_name, commit)
                    if key not in seen and (rule, file_name) not in at_head:
                        seen.add(key)
                        findings.append(Finding(rule, file_name, new_line or None, commit))
                new_line += 1
        cut = commits > history_commits or capped
        commits = min(commits, history_commits) - (1 if capped and commits <= history_commits else 0)
    return Scan(str(root), tuple(findings), read, tuple(skipped), commits, cut)
