"""Inventory: the YAML file that names every host and service a run checks.

Loading is strict and happens before any check runs.  Every problem in a file is collected and
raised as one ``pytest.UsageError`` whose lines read ``prod.yml:14: postgres.main.dsn: expected
a string, got a list``: file, line, key path, what is wrong and what to do.

Strings may use ``${VAR}`` and ``${VAR:-default}`` (``$$`` is a literal ``$``); interpolation
happens after YAML parsing, so a variable's value can never change the file's structure.
Interpolated values, values under secret-like keys and URL passwords are registered with the
redactor as they are read.
"""

from __future__ import annotations

import hashlib
import os
import re
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
import yaml

from pytest_deploycheck.redact import MIN_INTERPOLATED_SECRET, Redactor, is_secret_key
from pytest_deploycheck.thresholds import DEFAULT_TIMEOUT, THRESHOLDS, defaults

KINDS = ("hosts", "http", "tls", "postgres", "mysql", "redis", "files")

HOST_BACKENDS = ("local", "ssh", "safe-ssh", "paramiko", "docker", "podman", "kubectl", "openshift", "ansible", "salt", "winrm", "lxc")

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


# --------------------------------------------------------------------------- schema


@dataclass(frozen=True)
class Field:
    """One inventory key: its type, whether it is required, and what it means (README)."""

    type: str  # str | int | number | bool | path | url | list[str] | list[port] | map[str] | record | choice
    doc: str
    required: bool = False
    choices: tuple[str, ...] = ()
    fields: Mapping[str, Field] | None = None  # for "record"
    must_exist: bool = False  # for "path"


COMMON: dict[str, Field] = {
    "description": Field("str", "free text shown in reports"),
    "roles": Field("list[str]", "roles a check can narrow to with @pytest.mark.targets(roles=...)"),
    "tags": Field("list[str]", "tags a check can narrow to with @pytest.mark.targets(tags=...)"),
    "timeout": Field("number", "seconds for every network operation on this target (default: global timeout)"),
    "thresholds": Field("thresholds", "per-target threshold overrides"),
    "active_probes": Field("bool", "allow checks that send bursts or try credentials against this target (default: global)"),
}

SCHEMA: dict[str, dict[str, Field]] = {
    "hosts": {
        "backend": Field("str", "testinfra connection: local://, ssh://user@host:port, paramiko://..., docker://..., kubectl://..., ansible://...", required=True),
        "sudo": Field("bool", "run commands through sudo"),
        "sudo_user": Field("str", "sudo to this user"),
        "ssh_identity_file": Field("path", "private key for ssh:// and paramiko://", must_exist=True),
        "ssh_config": Field("path", "ssh_config file to use", must_exist=True),
        "ssh_known_hosts": Field("path", "known_hosts file that pins the host key", must_exist=True),
        "ssh_host_key_checking": Field("bool", "false opts out of host key verification (default true: an unknown key fails)"),
        "services": Field("list[str]", "services that must be running and enabled"),
        "listen_allow": Field("list[port]", "ports (or addr:port) allowed to listen"),
        "app_dir": Field("str", "the application's directory on the host"),
        "app_user": Field("str", "the account the application runs as"),
        "app_process": Field("str", "process name (pgrep -f pattern) of the application"),
        "secret_files": Field("list[str]", "files holding secrets: mode 600 or stricter, owned by app_user"),
        "directories": Field("map[record]", "path: {mode: '0750', owner: app} expected for each directory"),
        "log_dir": Field("str", "the application's log directory (log rotation must cover it)"),
        "backups": Field("list[str]", "absolute globs of backup files, one per backup job (/var/backups/pg/*.dump.gpg)"),
        "sshd_config": Field("str", "sshd configuration file on the host for the ssh checks (default: the -f file of the sshd that accepted the check's SSH connection, else /etc/ssh/sshd_config)"),
        "container": Field("bool", "the host is a container: firewall, fail2ban, time sync and automatic updates are then not applicable (default: detected)"),
    },
    "http": {
        "url": Field("url", "base URL, https:// in production", required=True),
        "http_url": Field("url", "plain-HTTP URL that must redirect to HTTPS (default: url with http://)"),
        "paths": Field("map[str]", "named paths: health, ready, live, metrics, ..."),
        "ca_bundle": Field("path", "CA bundle to verify the certificate (default: system store)", must_exist=True),
        "server_name": Field("str", "host name the certificate must match (default: the URL's host)"),
        "auth": Field("record", "login and protected paths for authentication checks", fields={
            "login_path": Field("str", "POST {username, password} here to obtain a token"),
            "username": Field("str", "test account (use ${VAR})"),
            "password": Field("str", "test account password (use ${VAR})"),
            "token_field": Field("str", "JSON field of the login response holding the token (default access_token)"),
            "protected_paths": Field("list[str]", "paths that must refuse anonymous requests"),
        }),
        "admin_paths": Field("list[str]", "admin paths that must refuse anonymous requests"),
        "rate_limited_path": Field("str", "a path that must answer 429 under a burst (active probe)"),
        "websocket_path": Field("str", "a WebSocket endpoint"),
        "cors_allowed_origins": Field("list[str]", "origins CORS may allow"),
    },
    "tls": {
        "address": Field("str", "host:port of a TLS endpoint that is not HTTP", required=True),
        "server_name": Field("str", "SNI and the name the certificate must match (default: the host)"),
        "ca_bundle": Field("path", "CA bundle to verify the certificate (default: system store)", must_exist=True),
    },
    "postgres": {
        "dsn": Field("str", "libpq URL or key=value DSN, without the password", required=True),
        "password": Field("str", "the role's password (use ${VAR})"),
        "migrations": Field("record", "expected migration head", fields={
            "tool": Field("choice", "alembic, flyway, django, knex or rails", choices=("alembic", "flyway", "django", "knex", "rails")),
            "head": Field("str", "the revision/version the database must be at"),
            "table": Field("str", "the migrations table (default: the tool's)"),
        }),
        "app_role": Field("str", "the application's role, when the DSN logs in as a separate monitoring role (default: the DSN's user)"),
        "expect_replica": Field("bool", "the target is a streaming replica: pg-16 fails when it is not in recovery (default: pg-16 checks only replicas)"),
        "expect_archiving": Field("bool", "WAL archiving must be on: pg-15 fails when archive_mode is off (default: checked only where it is on)"),
    },
    "mysql": {
        "dsn": Field("url", "mysql://user@host:port/db, without the password; ?ssl-mode=DISABLED|PREFERRED|REQUIRED|VERIFY_CA|VERIFY_IDENTITY", required=True),
        "password": Field("str", "the user's password (use ${VAR})"),
        "ca_bundle": Field("path", "CA bundle to verify the server certificate", must_exist=True),
        "app_user": Field("str", "the application's account as user@host, when the DSN logs in as a separate audit account (default: the DSN's account)"),
    },
    "redis": {
        "url": Field("url", "redis:// or rediss:// URL, without the password", required=True),
        "username": Field("str", "ACL user (default: from the URL)"),
        "password": Field("str", "password (use ${VAR})"),
        "role": Field("choice", "what the instance is for: decides the eviction and persistence checks", choices=("cache", "broker", "session", "queue")),
        "ca_bundle": Field("path", "CA bundle for rediss://", must_exist=True),
        "app_user": Field("str", "ACL user the application connects as, for the dangerous-commands check (default: the user the checks log in as)"),
        "supported_until": Field("str", "YYYY-MM-DD until which the vendor (e.g. a distribution's security team) supports this build; replaces the upstream end-of-life date"),
    },
    "files": {
        "path": Field("path", "local directory holding the deployed application's source or configuration", required=True, must_exist=True),
        "env_files": Field("list[str]", "environment files, relative to path (default: .env, .env.production)"),
        "config_files": Field("list[str]", "YAML or JSON configuration files, relative to path, judged like env files (auth.jwt_secret is AUTH_JWT_SECRET)"),
    },
}

TOP_LEVEL: dict[str, Field] = {
    "version": Field("int", "inventory format version (1)"),
    "name": Field("str", "the environment's name in reports (default: the file name)"),
    "description": Field("str", "free text shown in reports"),
    "timeout": Field("number", f"seconds for every network operation (default {DEFAULT_TIMEOUT:g})"),
    "active_probes": Field("bool", "allow checks that send bursts or try credentials (default false)"),
    "thresholds": Field("thresholds", "global threshold overrides"),
    "attestations": Field("path", "attestations file for manual items", must_exist=True),
    "waivers": Field("path", "waivers file", must_exist=True),
    **{kind: Field("targets", f"{kind} targets by name") for kind in KINDS},
}


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class Target:
    """One host or service of the inventory, validated.

    ``spec`` holds the kind-specific keys (after interpolation and path resolution);
    ``thresholds`` is the merged view: defaults, then the inventory's, then the target's.
    """

    kind: str
    name: str
    spec: Mapping[str, Any]
    roles: tuple[str, ...]
    tags: tuple[str, ...]
    timeout: float
    thresholds: Mapping[str, float | int]
    active_probes: bool
    source: str  # "inventories/prod.yml:14", for messages
    description: str = ""

    def get(self, key: str, default: Any = None) -> Any:
        return self.spec.get(key, default)

    def threshold(self, name: str) -> Any:
        """The threshold ``name`` as this target sees it (see thresholds.py for the table)."""
        if name not in THRESHOLDS:
            raise KeyError(f"unknown threshold {name!r}; add it to pytest_deploycheck/thresholds.py")
        return self.thresholds[name]

    @property
    def address(self) -> str:
        """Where the target is, for messages: URL, DSN host, backend, path (no credentials)."""
        raw = str(self.spec.get("url") or self.spec.get("dsn") or self.spec.get("address")
                  or self.spec.get("backend") or self.spec.get("path") or "")
        return strip_userinfo(raw)

    @property
    def label(self) -> str:
        """``name (address)``: how every failure message names its target."""
        return f"{self.name} ({self.address})" if self.address else self.name


@dataclass(frozen=True)
class Inventory:
    path: Path
    name: str
    sha256: str
    timeout: float
    active_probes: bool
    thresholds: Mapping[str, float | int]
    targets: tuple[Target, ...]
    settings: Mapping[str, Any] = field(default_factory=dict)

    def of_kind(self, kind: str) -> list[Target]:
        return sorted((t for t in self.targets if t.kind == kind), key=lambda t: t.name)

    def get(self, kind: str, name: str) -> Target:
        for target in self.targets:
            if target.kind == kind and target.name == name:
                return target
        raise KeyError(f"{kind}.{name}")

    def counts(self) -> dict[str, int]:
        return {kind: n for kind in KINDS if (n := len(self.of_kind(kind)))}


def strip_userinfo(value: str) -> str:
    """``postgresql://app:pw@db/app`` -> ``postgresql://app@db/app``."""
    return re.sub(r"(://[^/@:\s]*):[^/@\s]*@", r"\1@", value)


# --------------------------------------------------------------------------- loading


@dataclass
class _Problem:
    line: int
    path: str
    message: str


class _Loader:
    def __init__(self, path: Path, environ: Mapping[str, str], redactor: Redactor) -> None:
        self.path = path
        self.display = _display_path(path)
        self.environ = environ
        self.redactor = redactor
        self.problems: list[_Problem] = []

    def problem(self, line: int, keypath: str, message: str) -> None:
        self.problems.append(_Problem(line, keypath, message))

    # YAML nodes -> (value, line) trees --------------------------------------------------

    def parse(self, text: str) -> Any:
        loader = yaml.SafeLoader(text)
        try:
            root = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark else 0
            self.problem(line, "", f"YAML syntax error: {exc.problem or exc}; fix the file's syntax")
            return None
        finally:
            loader.dispose()
        if root is None:
            return None
        return self._node(root, loader, "")

    def _node(self, node: yaml.Node, loader: yaml.SafeLoader, keypath: str) -> Any:
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            loader.flatten_mapping(node)
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = loader.construct_object(key_node, deep=True)
                sub = f"{keypath}.{key}" if keypath else str(key)
                if not isinstance(key, str):
                    hint = "; YAML reads yes/no/on/off as booleans: quote the name" if isinstance(key, bool) else ""
                    self.problem(key_node.start_mark.line + 1, sub, f"keys must be strings, got {type(key).__name__}{hint}")
                    continue
                if key in out:
                    self.problem(key_node.start_mark.line + 1, sub, "duplicate key; remove one of them")
                child = self._node(value_node, loader, sub)
                child.line = key_node.start_mark.line + 1  # messages point at the key, not the value
                out[key] = child
            return _Node(out, line)
        if isinstance(node, yaml.SequenceNode):
            return _Node([self._node(v, loader, f"{keypath}[{i}]") for i, v in enumerate(node.value)], line)
        return _Node(loader.construct_object(node, deep=True), line)


@dataclass
class _Node:
    value: Any
    line: int


def _display_path(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}")


def load_inventory(path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None, redactor: Redactor | None = None,
                   timeout: float | None = None) -> Inventory:
    """Read, interpolate and validate an inventory, or raise one ``pytest.UsageError``.

    ``timeout`` (from --deploycheck-timeout) replaces the inventory's global timeout.
    """
    path = Path(path)
    loader, tree, raw = read_yaml(
        path, what="inventory", environ=environ, redactor=redactor,
        missing="inventory file not found; check the path given to --inventory (see inventories/example.yml)",
        directory="is a directory; --inventory takes a YAML file such as inventories/localhost.yml",
    )
    inventory = _build(loader, tree, hashlib.sha256(raw).hexdigest(), timeout)
    raise_problems(loader, "inventory", _display_path(path))
    assert inventory is not None
    return inventory


# The strict reading below is shared with the attestation and waiver files (attestations.py,
# waivers.py): one YAML reader, so every file's problems read alike: file:line: key.path: problem.
YamlLoader = _Loader
YamlNode = _Node


def read_yaml(path: Path, *, what: str, missing: str, directory: str, environ: Mapping[str, str] | None = None,
              redactor: Redactor | None = None) -> tuple[_Loader, Any, bytes]:
    """Read a YAML file into ``(value, line)`` trees: ``(loader, tree, raw bytes)``.

    A missing file, a directory or non-UTF-8 text is a ``UsageError`` at once (``missing`` and
    ``directory`` say what to do); everything else, syntax errors included, is collected on
    ``loader.problems`` for ``raise_problems``.
    """
    environ = os.environ if environ is None else environ
    loader = _Loader(path.resolve(), environ, redactor if redactor is not None else Redactor())
    display = _display_path(path)
    if not path.exists():
        raise pytest.UsageError(f"{display}: {missing}")
    if path.is_dir():
        raise pytest.UsageError(f"{display}: {directory}")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise pytest.UsageError(f"{display}: not UTF-8 text ({exc.reason} at byte {exc.start}); save the {what} as UTF-8") from None
    return loader, loader.parse(text), raw


def raise_problems(loader: _Loader, what: str, display: str | None = None) -> None:
    """Raise one ``UsageError`` listing every problem collected on ``loader``, by line; nothing if none."""
    if not loader.problems:
        return
    display = display or loader.display
    lines = [f"{display}:{p.line}: {p.path + ': ' if p.path else ''}{p.message}" for p in sorted(loader.problems, key=lambda p: (p.line, p.path))]
    header = f"{len(lines)} problems in {what} {display}:\n" if len(lines) > 1 else ""
    raise pytest.UsageError(header + "\n".join(lines))


def _build(ld: _Loader, tree: Any, digest: str, timeout_override: float | None) -> Inventory | None:
    if tree is None:
        ld.problem(1, "", "the inventory is empty; name at least one target kind (see inventories/example.yml)")
        return None
    if not isinstance(tree.value, dict):
        ld.problem(tree.line, "", f"expected a mapping of settings and target kinds at the top level, got {typename(tree.value)}")
        return None
    top = tree.value
    settings = _record(ld, top, TOP_LEVEL, "", skip=set(KINDS) | {"thresholds"})
    global_thresholds = _thresholds(ld, top.get("thresholds"), "thresholds")
    timeout = float(timeout_override or settings.get("timeout", DEFAULT_TIMEOUT))
    active = bool(settings.get("active_probes", False))
    if settings.get("version", 1) != 1:
        ld.problem(top["version"].line, "version", f"unsupported inventory version {settings['version']}; this plugin reads version 1")

    targets: list[Target] = []
    seen: dict[str, str] = {}
    for kind in KINDS:
        section = top.get(kind)
        if section is None or section.value is None:
            continue
        if not isinstance(section.value, dict):
            ld.problem(section.line, kind, f"expected a mapping of target names to settings, got {typename(section.value)}")
            continue
        for name, node in section.value.items():
            keypath = f"{kind}.{name}"
            if not NAME_RE.match(name):
                ld.problem(node.line, keypath, "target names may hold letters, digits, '.', '_' and '-' and must start with a letter or digit")
                continue
            if name in seen:
                ld.problem(node.line, keypath, f"name already used by {seen[name]}; target names are unique across kinds")
                continue
            seen[name] = keypath
            if not isinstance(node.value, dict):
                ld.problem(node.line, keypath, f"expected a mapping of settings, got {typename(node.value)}")
                continue
            spec = _record(ld, node.value, {**COMMON, **SCHEMA[kind]}, keypath, skip={"thresholds"})
            missing = [k for k, f in SCHEMA[kind].items() if f.required and k not in node.value]
            for key in missing:
                ld.problem(node.line, f"{keypath}.{key}", f"required key missing: {SCHEMA[kind][key].doc}")
            if any(f.required and k not in spec for k, f in SCHEMA[kind].items()):
                continue
            _check_kind(ld, kind, spec, node.value, keypath)
            merged = {**defaults(), **global_thresholds, **_thresholds(ld, node.value.get("thresholds"), f"{keypath}.thresholds")}
            common = {k: spec.pop(k) for k in list(spec) if k in COMMON}
            targets.append(Target(
                kind=kind, name=name, spec=MappingProxyType(spec),
                roles=tuple(common.get("roles", ())), tags=tuple(common.get("tags", ())),
                timeout=float(common.get("timeout", timeout)),
                thresholds=MappingProxyType(merged),
                active_probes=bool(common.get("active_probes", active)),
                source=f"{ld.display}:{node.line}",
                description=str(common.get("description", "")),
            ))
    if ld.problems:
        return None
    name = str(settings.get("name") or ld.path.stem)
    return Inventory(
        path=ld.path, name=name, sha256=digest, timeout=timeout, active_probes=active,
        thresholds=MappingProxyType({**defaults(), **global_thresholds}),
        targets=tuple(sorted(targets, key=lambda t: (t.kind, t.name))),
        settings=MappingProxyType({k: v for k, v in settings.items() if k in ("attestations", "waivers", "description")}),
    )


def _record(ld: _Loader, mapping: dict[str, Any], schema: Mapping[str, Field], keypath: str, skip: set[str] = frozenset()) -> dict[str, Any]:  # type: ignore[assignment]
    out: dict[str, Any] = {}
    for key, node in mapping.items():
        sub = f"{keypath}.{key}" if keypath else key
        if key.startswith("x-") or key in skip:
            continue
        spec = schema.get(key)
        if spec is None:
            known = ", ".join(sorted(schema))
            hint = _closest(key, schema)
            ld.problem(node.line, sub, f"unknown key{'; did you mean ' + repr(hint) + '?' if hint else ''} (known keys: {known})")
            continue
        value = _value(ld, node, spec, sub, secret=is_secret_key(key))
        if value is not _INVALID:
            out[key] = value
    return out


_INVALID = object()


def _value(ld: _Loader, node: _Node, spec: Field, keypath: str, secret: bool) -> Any:
    raw = node.value
    kind = spec.type
    if kind == "record":
        if not isinstance(raw, dict):
            return _bad(ld, node, keypath, "a mapping", raw)
        assert spec.fields is not None
        return MappingProxyType(_record(ld, raw, spec.fields, keypath))
    if kind.startswith("map["):
        if not isinstance(raw, dict):
            return _bad(ld, node, keypath, "a mapping", raw)
        inner = Field(kind[4:-1], spec.doc)
        if inner.type == "record":
            inner = Field("map[str]", spec.doc)
        out = {}
        for k, v in raw.items():
            val = _value(ld, v, inner, f"{keypath}.{k}", secret or is_secret_key(k))
            if val is not _INVALID:
                out[k] = val
        return MappingProxyType(out)
    if kind.startswith("list["):
        if not isinstance(raw, list):
            return _bad(ld, node, keypath, "a list", raw)
        inner = Field(kind[5:-1], spec.doc)
        items = [_value(ld, v, inner, f"{keypath}[{i}]", secret) for i, v in enumerate(raw)]
        return tuple(i for i in items if i is not _INVALID)
    if isinstance(raw, (dict, list)):
        return _bad(ld, node, keypath, _expected(kind), raw)
    interpolated = False
    if isinstance(raw, str):
        text, values = _interpolate(ld, node, keypath, raw)
        if text is None:
            return _INVALID
        raw, interpolated = text, "${" in raw
        for value in values:
            if secret or len(value) >= MIN_INTERPOLATED_SECRET:
                ld.redactor.add(value)
        ld.redactor.add_url_userinfo(raw)
    if secret and isinstance(raw, str):
        ld.redactor.add(raw)
    return _scalar(ld, node, spec, keypath, raw, interpolated)


def _scalar(ld: _Loader, node: _Node, spec: Field, keypath: str, raw: Any, interpolated: bool) -> Any:
    kind = spec.type
    if kind in ("str", "url", "path", "choice", "port"):
        if kind == "port" and isinstance(raw, int) and not isinstance(raw, bool):
            if not 0 < raw < 65536:
                ld.problem(node.line, keypath, f"port {raw} is out of range 1-65535")
                return _INVALID
            return raw
        if not isinstance(raw, str):
            return _bad(ld, node, keypath, "a string", raw)
        if kind == "url" and not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", raw):
            ld.problem(node.line, keypath, f"expected a URL with a scheme (https://...), got {ld.redactor.redact(raw)!r}")
            return _INVALID
        if kind == "choice" and raw not in spec.choices:
            ld.problem(node.line, keypath, f"expected one of {', '.join(spec.choices)}, got {raw!r}")
            return _INVALID
        if kind == "path":
            resolved = (ld.path.parent / os.path.expanduser(raw)).resolve()
            if spec.must_exist and not resolved.exists():
                ld.problem(node.line, keypath, f"{raw}: no such file or directory (relative paths are read from the inventory's folder)")
                return _INVALID
            return str(resolved)
        return raw
    if kind == "bool":
        if isinstance(raw, str) and interpolated and raw.lower() in ("true", "false", "yes", "no", "1", "0", "on", "off"):
            return raw.lower() in ("true", "yes", "1", "on")
        if not isinstance(raw, bool):
            return _bad(ld, node, keypath, "true or false", raw)
        return raw
    if kind in ("int", "number"):
        if isinstance(raw, str) and interpolated:
            try:
                raw = int(raw) if kind == "int" else float(raw)
            except ValueError:
                return _bad(ld, node, keypath, _expected(kind), raw)
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or (kind == "int" and not isinstance(raw, int)):
            return _bad(ld, node, keypath, _expected(kind), raw)
        if raw <= 0 and keypath.endswith("timeout"):
            ld.problem(node.line, keypath, f"a timeout must be greater than 0 seconds, got {raw}")
            return _INVALID
        return raw
    raise AssertionError(f"unknown field type {kind}")  # pragma: no cover - schema bug


def _thresholds(ld: _Loader, node: _Node | None, keypath: str) -> dict[str, float | int]:
    if node is None:
        return {}
    if not isinstance(node.value, dict):
        _bad(ld, node, keypath, "a mapping of threshold names to numbers", node.value)
        return {}
    out: dict[str, float | int] = {}
    for key, sub in node.value.items():
        spec = THRESHOLDS.get(key)
        if spec is None:
            hint = _closest(key, THRESHOLDS)
            ld.problem(sub.line, f"{keypath}.{key}", f"unknown threshold{'; did you mean ' + repr(hint) + '?' if hint else ''} (see the README's threshold table)")
            continue
        value = _value(ld, sub, Field("int" if spec.integer else "number", spec.doc), f"{keypath}.{key}", secret=False)
        if value is not _INVALID:
            if value < 0:
                ld.problem(sub.line, f"{keypath}.{key}", f"must not be negative, got {value}")
                continue
            out[key] = value
    return out


def _check_kind(ld: _Loader, kind: str, spec: dict[str, Any], raw: dict[str, _Node], keypath: str) -> None:
    """Cross-field rules that a type alone cannot say."""
    if kind == "hosts":
        backend = spec["backend"]
        scheme = backend.split("://", 1)[0] if "://" in backend else ""
        if scheme not in HOST_BACKENDS:
            ld.problem(raw["backend"].line, f"{keypath}.backend", f"unknown testinfra backend {scheme or backend!r}; use one of {', '.join(b + '://' for b in HOST_BACKENDS)}")
        elif scheme in ("ssh", "safe-ssh") and re.match(r"^[a-z-]+://[^/@]*:[^/@]*@", backend):
            ld.problem(raw["backend"].line, f"{keypath}.backend", "a password in an ssh:// URL would go on a command line; use ssh_identity_file or an ssh-agent")
    if kind in ("postgres", "mysql", "redis"):
        key = "dsn" if kind != "redis" else "url"
        value = spec[key]
        if re.search(r"://[^/@]*:[^/@]+@", value) or re.search(r"(^|\s)password\s*=", value):
            ld.problem(raw[key].line, f"{keypath}.{key}", "holds a password; move it to the password key as ${VAR} so it never sits in the file")
    if kind == "tls":
        host, _, port = spec["address"].rpartition(":")
        if not host or not port.isdigit():
            ld.problem(raw["address"].line, f"{keypath}.address", f"expected host:port, got {spec['address']!r}")


def _interpolate(ld: _Loader, node: _Node, keypath: str, text: str) -> tuple[str | None, list[str]]:
    """The string with variables substituted (None if one is missing) and the values taken
    from the environment (defaults written in the file are not secrets)."""
    taken: list[str] = []
    failed = False

    def replace(match: re.Match[str]) -> str:
        nonlocal failed
        if match.group(0) == "$$":
            return "$"
        var, op, default = match.group(1), match.group(2), match.group(3)
        value = ld.environ.get(var)
        if (op == ":-" and not value) or (op == "-" and value is None):
            return default or ""
        if value is None:
            failed = True
            ld.problem(node.line, keypath, f"environment variable {var} is not set; export it or write ${{{var}:-default}}")
            return ""
        taken.append(value)
        return value

    result = _VAR.sub(replace, text)
    return (None if failed else result), taken


def _bad(ld: _Loader, node: _Node, keypath: str, expected: str, got: Any) -> Any:
    ld.problem(node.line, keypath, f"expected {expected}, got {typename(got)}")
    return _INVALID


def _expected(kind: str) -> str:
    return {"int": "a whole number", "number": "a number", "str": "a string", "url": "a URL", "path": "a path", "port": "a port number or addr:port"}.get(kind, kind)


def typename(value: Any) -> str:
    """How messages name a YAML value's type: "a mapping", "a list", "nothing (null)"..."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, _Node):
        value = value.value
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def _closest(key: str, known: Mapping[str, Any]) -> str | None:
    import difflib

    matches = difflib.get_close_matches(key, list(known), n=1, cutoff=0.75)
    return matches[0] if matches else None


def iter_fields() -> Iterator[tuple[str, str, Field]]:
    """(section, key, field) for every documented inventory key, for the README reference."""
    for key, f in TOP_LEVEL.items():
        yield "top level", key, f
    for key, f in COMMON.items():
        yield "every target", key, f
    for kind, schema in SCHEMA.items():
        for key, f in schema.items():
            yield kind, key, f


def host_port(target: Target) -> tuple[str, int] | None:
    """The TCP address a target is reached at, for the reachability pre-flight; None when the
    target is not a TCP peer (local://, docker://, a files path, a Unix socket)."""
    kind = target.kind
    if kind == "tls":
        host, _, port = target.spec["address"].rpartition(":")
        return host.strip("[]"), int(port)
    if kind == "files":
        return None
    if kind == "hosts":
        backend = target.spec["backend"]
        if not backend.startswith(("ssh://", "safe-ssh://", "paramiko://")):
            return None
        parts = urllib.parse.urlsplit(backend)
        return (parts.hostname, parts.port or 22) if parts.hostname else None
    if kind == "postgres":
        return _pg_host_port(target.spec["dsn"])
    url = str(target.spec.get("url") or target.spec.get("dsn"))
    parts = urllib.parse.urlsplit(url)
    default = {"https": 443, "http": 80, "mysql": 3306, "redis": 6379, "rediss": 6379}.get(parts.scheme, 0)
    if not parts.hostname:
        return None
    return parts.hostname, parts.port or default


def _pg_host_port(dsn: str) -> tuple[str, int] | None:
    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(dsn)
    host = str(params.get("host") or params.get("hostaddr") or "")
    if not host or host.startswith("/") or "," in host:
        return None
    return host, int(params.get("port") or 5432)
