"""Dockerfiles of a ``files`` target: a tolerant parser and the rules the ``dock-NN`` checks apply.

The parser knows what BuildKit reads: parser directives (``# syntax=``, ``# escape=``),
continuation lines with comment lines inside them, here-documents (``RUN <<EOF``), ``ARG``
before the first ``FROM``, stages (``FROM ... AS name``) and the stages a stage is built on
(``FROM build``), so a ``USER`` or ``HEALTHCHECK`` inherited from an earlier stage counts.  An
unknown instruction is kept, never an error: a Dockerfile that builds must not break a check.

Rules mirror hadolint (``DL3002`` root user, ``DL3006``/``DL3007`` untagged or ``latest`` base,
``DL3009``/``DL3019``/``DL3042`` package caches, ``DL3020`` ADD for local files) and the CIS
Docker Benchmark (4.1 user, 4.6 HEALTHCHECK, 4.9 COPY not ADD, 4.10 no secrets in the image).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pytest_deploycheck.outcomes import TargetError
from pytest_deploycheck.targets.container_common import (
    Finding,
    ImageRef,
    display,
    globbed,
    image_problems,
    is_literal_secret,
    looks_secret,
    redact,
    substitute,
)

#: What ``docker build .`` reads when the inventory names no ``dockerfiles``.
DEFAULT_DOCKERFILES = ("Dockerfile",)


@dataclass
class Instruction:
    cmd: str  # upper case: RUN, COPY, ...
    args: str  # the text after the keyword, continuation lines joined, comments dropped
    line: int
    flags: dict[str, str] = field(default_factory=dict)  # leading --name=value options
    heredocs: list[tuple[str, str]] = field(default_factory=list)  # (delimiter, body)

    @property
    def script(self) -> str:
        """What a RUN executes: its arguments plus its here-documents."""
        return "\n".join([self.args, *(body for _, body in self.heredocs)])


@dataclass
class Stage:
    index: int
    base: str  # as written after FROM (flags removed)
    name: str | None
    line: int
    instructions: list[Instruction] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.name or f"stage-{self.index}"


@dataclass
class Dockerfile:
    path: str
    directives: dict[str, str]
    global_args: list[Instruction]
    stages: list[Stage]

    @property
    def final(self) -> Stage | None:
        return self.stages[-1] if self.stages else None

    def loc(self, line: int) -> str:
        return f"{self.path}:{line}"

    def stage_named(self, name: str) -> Stage | None:
        return next((s for s in self.stages if s.name and s.name.lower() == name.lower()), None)

    def lineage(self, stage: Stage) -> list[Stage]:
        """The stage and the earlier stages it is built FROM, nearest first (for inherited USER/HEALTHCHECK)."""
        chain = [stage]
        while (parent := self.stage_named(chain[-1].base)) is not None and parent not in chain:
            chain.append(parent)
        return chain

    def global_arg_defaults(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for inst in self.global_args:
            for name, value in parse_assignments(inst.args, legacy_pairs=False):
                if value is not None:
                    values[name] = value
        return values


_DIRECTIVE = re.compile(r"^#\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(.*?)\s*$")
_INSTRUCTION = re.compile(r"^\s*([A-Za-z]+)(?:\s+(.*))?$", re.S)
_HEREDOC = re.compile(r"<<(-?)\s*([\"']?)([A-Za-z_][A-Za-z0-9_]*)\2")


def parse_dockerfile(text: str, path: str = "Dockerfile") -> Dockerfile:
    """Parse a Dockerfile: parser directives, ``\\`` (or ``escape=``) continuations with comment lines
    inside them, here-documents (``RUN <<EOF``), ``ARG`` before the first ``FROM`` and ``FROM ... AS``.

    It is tolerant: an unknown instruction is kept as it is, never an error, because BuildKit front
    ends add instructions and a check must not fail on a Dockerfile that builds.
    """
    lines = text.splitlines()
    directives: dict[str, str] = {}
    i = 0
    # Directives are only recognised before anything else, blank lines and comments included.
    while i < len(lines) and (m := _DIRECTIVE.match(lines[i])) and m.group(1).lower() in {"syntax", "escape", "check"}:
        directives[m.group(1).lower()] = m.group(2)
        i += 1
    escape = directives.get("escape", "\\")[:1] or "\\"

    doc = Dockerfile(path, directives, [], [])
    while i < len(lines):
        raw = lines[i]
        start = i + 1
        i += 1
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        parts: list[str] = []
        current = raw
        while True:
            stripped = current.rstrip()
            if stripped.endswith(escape) and not stripped.endswith(escape * 2):
                parts.append(stripped[:-1])
                # Comment lines (and, tolerated, blank lines) inside a continuation are dropped.
                while i < len(lines) and (not lines[i].strip() or lines[i].lstrip().startswith("#")):
                    i += 1
                if i >= len(lines):
                    break
                current = lines[i]
                i += 1
                continue
            parts.append(current)
            break
        logical = " ".join(p.strip() for p in parts)
        match = _INSTRUCTION.match(logical)
        if not match:
            continue
        cmd, args = match.group(1).upper(), (match.group(2) or "").strip()
        inst = Instruction(cmd, args, start)
        inst.flags, inst.args = _split_flags(args)
        if cmd in {"RUN", "COPY", "ADD"}:
            for heredoc in _HEREDOC.finditer(inst.args):
                strip_tabs, delimiter = heredoc.group(1) == "-", heredoc.group(3)
                body: list[str] = []
                while i < len(lines):
                    line = lines[i]
                    i += 1
                    if (line.lstrip("\t") if strip_tabs else line) == delimiter:
                        break
                    body.append(line.lstrip("\t") if strip_tabs else line)
                inst.heredocs.append((delimiter, "\n".join(body)))
        if cmd == "FROM":
            words = inst.args.split()
            base = words[0] if words else ""
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            doc.stages.append(Stage(len(doc.stages), base, name, start))
        elif not doc.stages:
            if cmd == "ARG":
                doc.global_args.append(inst)
        else:
            doc.stages[-1].instructions.append(inst)
    return doc


def read_dockerfile(path: str | Path) -> Dockerfile:
    return parse_dockerfile(Path(path).read_text(encoding="utf-8"), str(path))


def _split_flags(args: str) -> tuple[dict[str, str], str]:
    flags: dict[str, str] = {}
    rest = args
    while rest.startswith("--"):
        word, _, rest = rest.partition(" ")
        key, _, value = word[2:].partition("=")
        flags[key] = flags[key] + ";" + value if key in flags else value  # several --mount= are legal
        rest = rest.lstrip()
    return flags, rest


def parse_assignments(args: str, *, legacy_pairs: bool = True) -> list[tuple[str, str | None]]:
    """``ENV``/``ARG`` arguments as (name, value) pairs: ``A=1 B="two words"``, legacy ``ENV A value``,
    ``ARG NAME`` without a default (value None)."""
    try:
        words = shlex.split(args, posix=True)
    except ValueError:
        words = args.split()
    if legacy_pairs and words and "=" not in words[0]:
        return [(words[0], " ".join(words[1:]) if len(words) > 1 else None)]
    pairs: list[tuple[str, str | None]] = []
    for word in words:
        name, eq, value = word.partition("=")
        pairs.append((name, value if eq else None))
    return pairs


_ROOT_USERS = {"root", "0"}


def dockerfile_user(df: Dockerfile) -> list[Finding]:
    """DL3002 / CIS 4.1: the final stage runs as a non-root user."""
    final = df.final
    if final is None:
        return []
    for stage in df.lineage(final):
        users = [inst for inst in stage.instructions if inst.cmd == "USER"]
        if users:
            last = users[-1]
            user = last.args.split(":")[0].strip()
            if user.lower() in _ROOT_USERS:
                return [Finding(f"Dockerfile/{final.label}", df.loc(last.line), f"the final stage runs as {last.args!r}: switch to an unprivileged USER (DL3002, CIS Docker 4.1)", "DL3002", "high")]
            return []
    base = df.lineage(final)[-1].base
    if re.search(r"[:-]nonroot\b", base):
        return []  # distroless :nonroot and the like already set an unprivileged user
    return [Finding(f"Dockerfile/{final.label}", df.loc(final.line), "no USER in the final stage: the container runs as root (CIS Docker 4.1, DL3002)", "DL3002", "high")]


def dockerfile_healthcheck(df: Dockerfile, *, orchestrator_probes: bool = False) -> list[Finding]:
    """CIS 4.6: the image declares a HEALTHCHECK, unless it only ever runs under orchestrator probes."""
    final = df.final
    if final is None or orchestrator_probes:
        return []
    for stage in df.lineage(final):
        checks = [inst for inst in stage.instructions if inst.cmd == "HEALTHCHECK"]
        if checks:
            if checks[-1].args.strip().upper() == "NONE":
                return [Finding(f"Dockerfile/{final.label}", df.loc(checks[-1].line), "HEALTHCHECK NONE disables the health check (CIS Docker 4.6)", "CIS-4.6", "low")]
            return []
    return [Finding(f"Dockerfile/{final.label}", df.loc(final.line), "no HEALTHCHECK in the final stage (CIS Docker 4.6); if the image runs only under orchestrator probes, say so with orchestrator_probes: true", "CIS-4.6", "low")]


def dockerfile_base_images(df: Dockerfile) -> list[Finding]:
    """DL3006 / DL3007: every FROM names a tagged image (not ``latest``); a digest is preferred (info)."""
    findings: list[Finding] = []
    args = df.global_arg_defaults()
    earlier: set[str] = set()
    for stage in df.stages:
        base = substitute(stage.base, args)
        if base.lower() != "scratch" and base.lower() not in earlier:
            for rule, severity, message in image_problems(base):
                findings.append(Finding(f"Dockerfile/{stage.label}", df.loc(stage.line), message, rule, severity))
        if stage.name:
            earlier.add(stage.name.lower())
    return findings


def final_base(df: Dockerfile) -> tuple[str, int] | None:
    """The image the final stage starts from (``ARG`` defaults resolved, a ``FROM <earlier stage>``
    followed back to that stage's image) and the line of its ``FROM``; None for an empty file."""
    if not df.stages:
        return None
    args = df.global_arg_defaults()
    by_name = {stage.name.lower(): stage for stage in df.stages if stage.name}
    stage = df.stages[-1]
    for _ in range(len(df.stages)):
        base = substitute(stage.base, args)
        earlier = by_name.get(base.lower())
        if earlier is None or earlier is stage:
            return base, stage.line
        stage = earlier
    return substitute(stage.base, args), stage.line


def start_instruction(df: Dockerfile) -> tuple[Instruction, Instruction | None] | None:
    """What starts the container: the final stage's (or its parent stage's) last ENTRYPOINT, else
    its last CMD, with the ENTRYPOINT as the second item when there is one; None when the
    Dockerfile leaves it to the base image."""
    final = df.final
    if final is None:
        return None
    entry = cmd = None
    for stage in df.lineage(final):
        for inst in reversed(stage.instructions):
            if inst.cmd == "ENTRYPOINT" and entry is None:
                entry = inst
            elif inst.cmd == "CMD" and cmd is None and entry is None:
                cmd = inst
    start = entry or cmd
    return (start, entry) if start is not None else None


def exec_form(args: str) -> list[str] | None:
    """The words of a JSON-array (exec form) CMD/ENTRYPOINT; None for the shell form."""
    text = args.strip()
    if not text.startswith("["):
        return None
    try:
        words = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    return [str(w) for w in words] if isinstance(words, list) else None


_SHELL_SCRIPT = re.compile(r"^#!\s*\S*(?:/|\s)(?:env\s+)?(?:sh|bash|ash|dash|zsh)\b")
_EXEC_LINE = re.compile(r"^\s*(?:[A-Za-z_][A-Za-z0-9_]*=\S*\s+)*exec\s", re.M)


def dockerfile_signals(df: Dockerfile, read: Any = None) -> list[Finding]:
    """DL3025: the app, not a shell, is PID 1 and gets the SIGTERM ``docker stop`` and Kubernetes
    send.  A shell-form CMD/ENTRYPOINT runs under ``/bin/sh -c``, which does not pass the signal on
    (unless the command starts with ``exec``).  ``read(path)`` returns the text of a build-context
    file (or None): an entrypoint shell script copied in that never ``exec``s keeps the shell as PID 1 too."""
    found = start_instruction(df)
    final = df.final
    if found is None or final is None:
        return []
    start, entry = found
    where = (f"Dockerfile/{final.label}", df.loc(start.line))
    words = exec_form(start.args)
    if words is None:
        if re.match(r"\s*exec\s", start.args):
            return []
        program = start.args.split()[0] if start.args.split() else ""  # only the program: arguments can hold secrets
        return [Finding(*where, f"{start.cmd} {program} ... is shell form: /bin/sh -c is PID 1 and does not pass SIGTERM on, "
                                "so the app is killed when the stop grace period ends; write it as a JSON array (DL3025) or start it with exec",
                        "DL3025", "medium")]
    if entry is None or not words or read is None:
        return []
    name = words[0].rsplit("/", 1)[-1]
    for stage in df.lineage(final):
        for inst in stage.instructions:
            if inst.cmd not in {"COPY", "ADD"} or "from" in inst.flags:
                continue
            for source in _copy_sources(inst.args):
                if source.rstrip("/").rsplit("/", 1)[-1] != name:
                    continue
                text = read(source)
                if text and _SHELL_SCRIPT.match(text) and not _EXEC_LINE.search(text):
                    return [Finding(*where, f"ENTRYPOINT {words[0]} is the shell script {source}, which starts the app without exec: "
                                            "the shell stays PID 1 and does not pass SIGTERM on; end it with exec \"$@\"",
                                    "entrypoint-exec", "medium")]
    return []


def dockerfile_secrets(df: Dockerfile) -> list[Finding]:
    """CIS 4.10: no credential written into ENV or ARG; they stay in the image history. Use build secrets."""
    findings: list[Finding] = []
    for stage_label, inst in _all_instructions(df):
        if inst.cmd not in {"ENV", "ARG"}:
            continue
        for name, value in parse_assignments(inst.args, legacy_pairs=inst.cmd == "ENV"):
            if looks_secret(name) and is_literal_secret(value):
                findings.append(Finding(f"Dockerfile/{stage_label}", df.loc(inst.line),
                                        f"{inst.cmd} {name} holds a literal secret ({redact(value)}): it is kept in the image history; use RUN --mount=type=secret (CIS Docker 4.10)",
                                        "CIS-4.10", "high"))
    return findings


_ARCHIVE = re.compile(r"\.(tar|tar\.gz|tgz|tar\.bz2|tbz2?|tar\.xz|txz|tar\.zst)$", re.I)
_REMOTE = re.compile(r"^(https?://|git@|git://|ssh://)", re.I)


def dockerfile_add(df: Dockerfile) -> list[Finding]:
    """DL3020: COPY, not ADD, for local files; ADD of a URL, a git repository or a tar archive is what ADD is for."""
    findings: list[Finding] = []
    for stage_label, inst in _all_instructions(df):
        if inst.cmd != "ADD" or inst.heredocs:
            continue
        sources = _copy_sources(inst.args)
        if sources and not any(_REMOTE.match(s) or _ARCHIVE.search(s) for s in sources):
            findings.append(Finding(f"Dockerfile/{stage_label}", df.loc(inst.line), f"ADD {' '.join(sources)}: use COPY for local files (DL3020)", "DL3020", "low"))
    return findings


def _copy_sources(args: str) -> list[str]:
    text = args.strip()
    if text.startswith("["):
        try:
            words = [str(w) for w in yaml.safe_load(text)]
        except yaml.YAMLError:
            words = text.strip("[]").split(",")
    else:
        words = text.split()
    return words[:-1]


_COMMAND_SPLIT = re.compile(r"&&|\|\||;|\n|\|")


def _commands(script: str) -> list[str]:
    return [c.strip() for c in _COMMAND_SPLIT.split(script) if c.strip()]


def _cache_mount(inst: Instruction, path_part: str) -> bool:
    """A BuildKit cache mount keeps the cache out of the layer, which satisfies the cache rules."""
    return any("type=cache" in m and path_part in m for m in inst.flags.get("mount", "").split(";"))


def dockerfile_package_caches(df: Dockerfile) -> list[Finding]:
    """DL3009 (apt lists removed), DL3019 (``apk add --no-cache``), DL3042 (``pip install --no-cache-dir``)."""
    findings: list[Finding] = []
    for stage in df.stages:
        pip_env = any(inst.cmd == "ENV" and re.search(r"PIP_NO_CACHE_DIR\s*[= ]\s*(1|true|on|yes|off|0)", inst.args, re.I) for inst in stage.instructions)
        for inst in stage.instructions:
            if inst.cmd != "RUN":
                continue
            script = inst.script
            commands = _commands(script)
            obj = f"Dockerfile/{stage.label}"
            if any(re.search(r"\bapt(-get)?\s+(\S+\s+)*install\b", c) for c in commands) and not (
                re.search(r"rm\s+-[a-z]*r[a-z]*f?\s+.*?/var/lib/apt/lists", script) or _cache_mount(inst, "/var/lib/apt")
            ):
                findings.append(Finding(obj, df.loc(inst.line), "apt-get install without 'rm -rf /var/lib/apt/lists/*' in the same RUN (DL3009)", "DL3009", "low"))
            if any(re.search(r"\bapk\s+(\S+\s+)*add\b", c) and "--no-cache" not in c for c in commands) and not _cache_mount(inst, "/var/cache/apk"):
                findings.append(Finding(obj, df.loc(inst.line), "apk add without --no-cache (DL3019)", "DL3019", "low"))
            pip = [c for c in commands if re.search(r"\bpip3?\s+(\S+\s+)*install\b", c)]
            if any("--no-cache-dir" not in c for c in pip) and not pip_env and not _cache_mount(inst, "pip"):
                findings.append(Finding(obj, df.loc(inst.line), "pip install without --no-cache-dir (DL3042)", "DL3042", "low"))
    return findings


_TOOLCHAIN_PACKAGES = re.compile(r"^(gcc|g\+\+|clang|build-essential|build-base|cmake|golang|golang-go|go|maven|gradle|rustc|cargo|default-jdk|openjdk-\d+-jdk(-headless)?|java-\d+-openjdk-devel|musl-dev|libc6?-dev)$")
_TOOLCHAIN_COMMANDS = re.compile(r"\bgo\s+build\b|\bmvn\b|\bgradlew?\b|\bcargo\s+build\b|\bnpm\s+(ci|install)\b(?!.*--(omit=dev|production|only=prod))|\byarn\s+install\b(?!.*--production)")
_TOOLCHAIN_IMAGES = {"golang", "maven", "gradle", "rust", "openjdk", "eclipse-temurin-jdk", "gcc", "buildpack-deps"}


def dockerfile_toolchain(df: Dockerfile) -> list[Finding]:
    """Info: a compiler toolchain in the final stage ships with the image; build in a multi-stage build."""
    final = df.final
    if final is None:
        return []
    found: list[tuple[int, str]] = []
    base = substitute(df.lineage(final)[-1].base, df.global_arg_defaults())
    if ImageRef.parse(base).short_name in _TOOLCHAIN_IMAGES and "jre" not in (ImageRef.parse(base).tag or ""):
        found.append((final.line, f"base image {base}"))
    for stage in df.lineage(final):
        for inst in stage.instructions:
            if inst.cmd != "RUN":
                continue
            for command in _commands(inst.script):
                packages = _installed_packages(command)
                tools = sorted(p for p in packages if _TOOLCHAIN_PACKAGES.match(p))
                if tools:
                    found.append((inst.line, "installs " + ", ".join(tools)))
                elif _TOOLCHAIN_COMMANDS.search(command):
                    found.append((inst.line, f"runs {command.split()[0]} {command.split()[1] if len(command.split()) > 1 else ''}".strip()))
    if not found:
        return []
    line, what = found[0]
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    return [Finding(f"Dockerfile/{final.label}", df.loc(line), f"the final stage {what}{more}: build in an earlier stage and COPY --from the artefact", "multi-stage", "info")]


def _installed_packages(command: str) -> set[str]:
    match = re.search(r"\b(apt-get|apt|apk|yum|dnf|microdnf)\s+(.*?)\b(install|add)\b(.*)", command)
    if not match:
        return set()
    return {w.split("=")[0] for w in match.group(4).split() if not w.startswith("-")}


def _all_instructions(df: Dockerfile) -> Iterator[tuple[str, Instruction]]:
    for inst in df.global_args:
        yield "global", inst
    for stage in df.stages:
        for inst in stage.instructions:
            yield stage.label, inst


def dockerfile_findings(df: Dockerfile, *, orchestrator_probes: bool = False) -> list[Finding]:
    """Every Dockerfile rule."""
    return [
        *dockerfile_user(df), *dockerfile_healthcheck(df, orchestrator_probes=orchestrator_probes), *dockerfile_base_images(df),
        *dockerfile_secrets(df), *dockerfile_add(df), *dockerfile_package_caches(df), *dockerfile_toolchain(df),
        *dockerfile_signals(df),
    ]



def target_dockerfiles(files: Any) -> list[Dockerfile]:
    """Every Dockerfile a ``files`` target names (``dockerfiles``; default ``Dockerfile``), parsed.
    Locations are relative to the target's folder.  An unreadable file is an error."""
    parsed = []
    for path in globbed(files, "dockerfiles", DEFAULT_DOCKERFILES):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise TargetError(f"{files.label}: cannot read {path}: {exc}") from None
        parsed.append(parse_dockerfile(text, display(path, Path(files.path))))
    return parsed
