"""What the Dockerfile, Compose and Kubernetes readers share: findings, secret names, image references.

A rule (``dockerfile.py``, ``compose.py``, ``k8s_manifests.py``, ``k8s_live.py``) returns
``Finding``s; a catalog check turns the ones it owns into one verdict with ``judge``, so every
container check fails the same way: the target, then each object as an operator looks it up
(``Deployment/shop/web``, ``compose-service/shop/db``, ``Dockerfile/runtime``) with its
``file:line``, what is wrong, and what was expected.  ``globbed`` reads a ``files`` target's
path-or-glob lists (``dockerfiles``, ``compose_files``, ``manifests``).

No secret's value ever reaches a finding: a literal credential is named by its variable and its
length only.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pytest_deploycheck.outcomes import Evidence, TargetError, fail

Severity = Literal["critical", "high", "medium", "low", "info"]

#: The extra that brings the Kubernetes client and schemas; named in every message about them.
KUBERNETES_EXTRA = "pip install 'pytest-deploycheck[kubernetes]'"
#: Findings named in a failure message; the evidence holds up to MAX_EVIDENCE of them.
MAX_MESSAGE = 5
MAX_EVIDENCE = 200


class Finding(NamedTuple):
    """One problem: which object, where (``file:line``), what is wrong; then rule ID and severity."""

    object: str
    location: str
    message: str
    rule: str
    severity: Severity = "medium"

    def line(self) -> str:
        where = f" ({self.location})" if self.location and self.location != self.object else ""
        return f"{self.object}{where}: {self.message}"


def judge(target: Any, evidence: Evidence, findings: Sequence[Finding], expected: str, *, examined: Iterable[str] = (),
          advice: Iterable[str] = ()) -> None:
    """Fail ``target`` with every finding (the first few in the message, all in the evidence);
    findings whose rule is in ``advice`` (a digest missing on a tag-pinned image) are recorded
    as advice and do not fail the check."""
    __tracebackhide__ = True
    soft = set(advice)
    problems = [f for f in findings if f.rule not in soft]
    notes = [f for f in findings if f.rule in soft]
    evidence.record(examined=list(examined)[:MAX_EVIDENCE], problems=[_as_dict(f) for f in problems[:MAX_EVIDENCE]])
    if notes:
        evidence.record(advice=[_as_dict(f) for f in notes[:MAX_EVIDENCE]])
    if problems:
        shown = "; ".join(f.line() for f in problems[:MAX_MESSAGE])
        more = f" (and {len(problems) - MAX_MESSAGE} more in the evidence)" if len(problems) > MAX_MESSAGE else ""
        fail(target, f"{len(problems)} problem{'s' if len(problems) != 1 else ''}: {shown}{more}", expected)


def _as_dict(finding: Finding) -> dict[str, str]:
    return {"object": finding.object, "location": finding.location, "message": finding.message, "rule": finding.rule}


def globbed(files: Any, key: str, defaults: Sequence[str] = ()) -> list[Path]:
    """The files a ``files`` target names under ``key`` (paths or globs relative to its ``path``),
    in the order written, each pattern's matches sorted.  Without the key, ``defaults`` that exist.
    A pattern the inventory gives that matches no file is an error: the check cannot look."""
    root = Path(files.path)
    patterns = files.setting(key)
    if not patterns:
        return [root / name for name in defaults if (root / name).is_file()]
    found: list[Path] = []
    for pattern in (str(p) for p in patterns):
        matches = sorted(Path(p) for p in glob.glob(str(root / pattern), recursive=True) if Path(p).is_file())
        if not matches:
            raise TargetError(f"{files.label}: files.{files.name}.{key}: {pattern!r} matches no file under {root}")
        found.extend(m for m in matches if m not in found)
    return found


def display(path: Path, root: Path) -> str:
    """``path`` relative to the target's folder when inside it: short, and the same on every machine."""
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


_SECRET_WORDS = re.compile(r"PASSW(OR)?D|PASSPHRASE|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|CREDENTIAL|AUTH_?KEY", re.I)
# Names that point at a secret or describe it rather than hold it: the pattern to encourage.
_SECRET_POINTERS = re.compile(r"(_FILE|_PATH|_DIR|_URL|_URI|_ENDPOINT|_HOST|_PORT|_TTL|_LIFETIME|_EXPIRY|_EXPIRES|_LENGTH|_ENABLED|_NAME|_REF|_KEY_ID|_ID|_HEADER)$", re.I)
_NOT_SECRET_VALUES = {"", "true", "false", "yes", "no", "on", "off", "0", "1", "null", "none"}
_VAR_ONLY = re.compile(r"^\$(\{[A-Za-z_][A-Za-z0-9_]*((:?[-?])[^}]*)?\}|[A-Za-z_][A-Za-z0-9_]*)$")


def looks_secret(name: str) -> bool:
    """True for an environment variable name that usually holds a credential (``DB_PASSWORD``)."""
    return bool(_SECRET_WORDS.search(name)) and not _SECRET_POINTERS.search(name)


def is_literal_secret(value: Any) -> bool:
    """True when ``value`` is written out, not taken from a variable (``${DB_PASSWORD}``) or empty."""
    if value is None or isinstance(value, bool):
        return False
    text = str(value).strip()
    return text.lower() not in _NOT_SECRET_VALUES and not _VAR_ONLY.match(text)



def redact(value: Any) -> str:
    """How a literal secret is shown: its length, never a character of it."""
    return f"a literal value of {len(str(value))} characters"



@dataclass(frozen=True)
class ImageRef:
    raw: str
    name: str
    tag: str | None
    digest: str | None

    @classmethod
    def parse(cls, ref: str) -> ImageRef:
        rest, _, digest = ref.partition("@")
        last = rest.rsplit("/", 1)[-1]
        if ":" in last:
            name, tag = rest.rsplit(":", 1)
            return cls(ref, name, tag, digest or None)
        return cls(ref, rest, None, digest or None)

    @property
    def short_name(self) -> str:
        """``postgres`` for ``docker.io/library/postgres:16``: what stateful-image rules match on."""
        return self.name.rsplit("/", 1)[-1].lower()


def image_problems(ref: str) -> list[tuple[str, Severity, str]]:
    """(rule, severity, message) for an image reference that is not pinned; [] for a pinned one.

    A reference that still holds an unresolved variable is skipped: what it becomes is unknowable here.
    """
    if "$" in ref or not ref:
        return []
    image = ImageRef.parse(ref)
    if image.digest:
        return []
    if image.tag is None:
        return [("DL3006", "medium", f"image {ref!r} has no tag: it floats to whatever 'latest' is at pull time; pin a version")]
    if image.tag == "latest":
        return [("DL3007", "medium", f"image {ref!r} uses the 'latest' tag: pin a version")]
    return [("image-digest", "info", f"image {ref!r} is pinned by tag only; a digest (@sha256:...) makes the build reproducible")]


def image_repository(ref: str) -> str:
    """Where a pull fetches an image from, registry first, as Docker resolves a short name:
    ``nginx`` -> ``docker.io/library/nginx``, ``acme/web`` -> ``docker.io/acme/web``,
    ``registry.example.com:5000/shop/web:1.4`` -> ``registry.example.com:5000/shop/web``."""
    name = ImageRef.parse(ref).name.lower()
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return name.replace("index.docker.io/", "docker.io/", 1) if first == "index.docker.io" else name
    return f"docker.io/{name}" if rest else f"docker.io/library/{name}"


def registry_problem(ref: str, allowed: Sequence[str]) -> str | None:
    """Why an image reference comes from outside ``allowed`` (registries, or registry/path
    prefixes such as ``ghcr.io/acme``), or None.  A reference that still holds a variable is not judged."""
    if "$" in ref or not ref:
        return None
    repository = image_repository(ref)
    for entry in allowed:
        prefix = entry.lower().rstrip("/")
        if repository == prefix or repository.startswith(prefix + "/"):
            return None
    return f"image {ref!r} comes from {repository.rsplit('/', 1)[0]}, not from {', '.join(allowed)}"


def substitute(text: str, values: Mapping[str, str]) -> str:
    """``${VAR}``, ``${VAR:-default}``, ``$VAR`` replaced where a value or default is known."""

    def repl(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(4)
        if name in values:
            return values[name]
        if match.group(3) is not None and match.group(2) in (":-", "-"):
            return match.group(3)
        return match.group(0)

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)", repl, text)

