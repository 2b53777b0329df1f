"""The deployed application's configuration, read one way: dotenv files, and YAML, JSON or .properties files
flattened to the same env-style names (``auth: {jwt_secret: ...}`` is ``AUTH_JWT_SECRET``).

The cfg checks (``checks/test_app_config.py``) and pg-25's pool sizing (``app_pool.py``) both
read a ``files`` target's ``env_files`` and ``config_files`` through here, so a line means the
same to both.  Which files exist is asked of ``FilesTarget.regular_files``: a ``.env`` that is a
named pipe, a folder or unreadable ends the check as an error (could not look), never as
"missing".  A file is read to at most ``MAX_BYTES``; a larger one is an error, never a silent cut.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from pytest_deploycheck.outcomes import TargetError
from pytest_deploycheck.targets.files import FilesTarget

#: The env files a ``files`` target reads when it names none.
DEFAULT_ENV_FILES = (".env", ".env.production")
#: Largest configuration file read; a bigger one is not configuration.
MAX_BYTES = 1024 * 1024

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_NULL = "tag:yaml.org,2002:null"


@dataclass(frozen=True)
class Setting:
    """One setting: a ``KEY=value`` line of an env file, or one leaf of a YAML/JSON file."""

    file: str
    line: int
    key: str
    value: str

    @property
    def where(self) -> str:
        return f"{self.key} ({self.file}:{self.line})"

    @property
    def is_reference(self) -> bool:
        """``${OTHER}`` or ``$OTHER``: the value is set somewhere else."""
        return self.value.startswith("$")


def env_names(files: FilesTarget) -> list[str]:
    """The env files the target names (``env_files``), or the defaults."""
    return [str(n) for n in (files.setting("env_files") or DEFAULT_ENV_FILES)]


def config_names(files: FilesTarget) -> list[str]:
    """The YAML, JSON or ``.properties`` configuration files the target names (``config_files``)."""
    return [str(n) for n in (files.setting("config_files") or ())]


def read_text(label: str, path: Path) -> str:
    """The file's text (undecodable bytes replaced); one that cannot be read or is larger than
    ``MAX_BYTES`` is a ``TargetError`` naming it."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise TargetError(f"{label}: cannot read {path.name}: {exc.strerror}") from None
    if len(data) > MAX_BYTES:
        raise TargetError(f"{label}: {path.name} is larger than {MAX_BYTES // 1024} KiB, the size cap; it is not configuration")
    return data.decode("utf-8", errors="replace")


def read_settings(label: str, envs: Iterable[tuple[str, Path]], configs: Iterable[tuple[str, Path]], *,
                  split_camel: bool = False, join_lists: bool = True) -> list[Setting]:
    """Every setting of the env files, then of the configuration files (``(name, path)`` pairs,
    as ``regular_files`` gives them): Java ``.properties`` files, else YAML or JSON; a file that is
    none of them is an error."""
    out: list[Setting] = []
    for name, path in envs:
        out += parse_env(read_text(label, path), name)
    for name, path in configs:
        if name.endswith(".properties"):
            out += parse_properties(read_text(label, path), name, split_camel=split_camel)
            continue
        try:
            out += parse_structured(read_text(label, path), name, split_camel=split_camel, join_lists=join_lists)
        except NotStructured as exc:
            raise TargetError(f"{label}: {name} is not valid YAML or JSON ({exc})") from None
    return out


def parse_env(text: str, name: str) -> list[Setting]:
    """dotenv lines: ``KEY=value``, ``export KEY=value``, quoted values, ``# comments``."""
    out = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[7:].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not _KEY.fullmatch(key):
            continue
        value = value.strip()
        if value[:1] in ("'", '"'):
            end = value.find(value[0], 1)
            value = value[1:end] if end != -1 else value[1:]
        else:
            value = re.split(r"\s+#", value, maxsplit=1)[0].strip()
        out.append(Setting(name, number, key, value))
    return out


_PROPERTY = re.compile(r"^((?:\\.|[^=:\s\\])+)\s*[=:\s]\s*(.*)$")


def parse_properties(text: str, name: str, *, split_camel: bool = False) -> list[Setting]:
    """Java properties lines (``spring.profiles.active=prod``, ``key: value``, ``# comments``,
    ``\\`` continuations) flattened like YAML: ``spring.profiles.active`` is ``SPRING_PROFILES_ACTIVE``."""
    out = []
    lines = text.splitlines()
    number = 0
    while number < len(lines):
        start = number + 1
        line = lines[number].strip()
        number += 1
        while line.endswith("\\") and not line.endswith("\\\\") and number < len(lines):
            line = line[:-1] + lines[number].strip()
            number += 1
        if not line or line[0] in "#!":
            continue
        match = _PROPERTY.match(line)
        if match:
            key = match.group(1).replace("\\", "")
            out.append(Setting(name, start, flat_key(key.split("."), split_camel=split_camel), match.group(2).strip()))
    return out


class NotStructured(ValueError):
    """The text is not YAML (JSON is YAML); the message is the parser's first line."""


def parse_structured(text: str, name: str, *, split_camel: bool = False, join_lists: bool = True) -> list[Setting]:
    """A YAML or JSON configuration flattened to env-style names, so one rule judges both:
    ``auth: {jwt_secret: ...}`` is ``AUTH_JWT_SECRET``, ``database.password`` is ``DATABASE_PASSWORD``.

    ``join_lists``: a list of plain values is one setting, as an env file writes it (``a,b``);
    otherwise each item is its own (``HOSTS_0``).  ``split_camel``: ``acquireTimeoutMillis`` is
    ``ACQUIRE_TIMEOUT_MILLIS`` (else ``ACQUIRETIMEOUTMILLIS``)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise NotStructured(str(exc).splitlines()[0]) from None
    out: list[Setting] = []

    def walk(node: yaml.Node | None, path: list[str]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                walk(value, [*path, str(key.value)])
        elif isinstance(node, yaml.SequenceNode):
            if join_lists and path and all(isinstance(v, yaml.ScalarNode) for v in node.value):
                value = ",".join(str(v.value) for v in node.value)
                out.append(Setting(name, node.start_mark.line + 1, flat_key(path, split_camel=split_camel), value))
                return
            for index, item in enumerate(node.value):
                walk(item, [*path, str(index)])
        elif isinstance(node, yaml.ScalarNode) and path:
            value = "" if node.tag == _NULL else str(node.value)
            out.append(Setting(name, node.start_mark.line + 1, flat_key(path, split_camel=split_camel), value))

    walk(root, [])
    return out


def flat_key(path: Sequence[str], *, split_camel: bool = False) -> str:
    """``["spring", "datasource", "hikari", "maximum-pool-size"]`` -> ``SPRING_DATASOURCE_HIKARI_MAXIMUM_POOL_SIZE``."""
    parts = [re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", part) for part in path] if split_camel else path
    return "_".join(re.sub(r"[^A-Za-z0-9]+", "_", part).strip("_") for part in parts).upper()
