"""Inventory: the YAML file that names every host and service a run checks.

Loading is strict and happens before any check runs (the reader is ``yamlfile.py``).  Every
problem in a file is collected and raised as one ``pytest.UsageError`` whose lines read
``prod.yml:14: postgres.main.dsn: expected a string, got a list``: file, line, key path, what is
wrong and what to do.  The keys of each target kind are declared by the kind's module in
``targets/``; this module adds the keys every target and the file itself have.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pytest_deploycheck import ansible
from pytest_deploycheck.redact import Redactor
from pytest_deploycheck.targets import BY_NAME
from pytest_deploycheck.targets import KINDS as TARGET_KINDS
from pytest_deploycheck.targets.base import Target, strip_userinfo
from pytest_deploycheck.thresholds import DEFAULT_TIMEOUT, THRESHOLDS, defaults
from pytest_deploycheck.yamlfile import (
    INVALID,
    Field,
    YamlLoader,
    YamlNode,
    bad,
    closest,
    display_path,
    raise_problems,
    read_record,
    read_value,
    read_yaml,
    typename,
)

__all__ = ["COMMON", "KINDS", "SCHEMA", "TOP_LEVEL", "Field", "Inventory", "Target", "iter_fields", "load_inventory", "strip_userinfo"]

#: Inventory sections, one per target kind (``targets.KINDS``).
KINDS = tuple(kind.name for kind in TARGET_KINDS)

#: Each kind's own keys, as its module declares them.
SCHEMA: dict[str, Mapping[str, Field]] = {kind.name: kind.fields for kind in TARGET_KINDS}

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


COMMON: dict[str, Field] = {
    "description": Field("str", "free text shown in reports"),
    "roles": Field("list[str]", "roles a check can narrow to with @pytest.mark.targets(roles=...)"),
    "tags": Field("list[str]", "tags a check can narrow to with @pytest.mark.targets(tags=...)"),
    "timeout": Field("number", "seconds for every network operation on this target (default: global timeout)"),
    "thresholds": Field("thresholds", "per-target threshold overrides"),
    "active_probes": Field("bool", "allow checks that send bursts or try credentials against this target (default: global)"),
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
    "ansible": Field("record", "hosts from an Ansible inventory: groups become roles, connection variables the backend, "
                     "deploycheck_<key> host variables any hosts key", fields={
                         "inventory": Field("path", "the Ansible inventory: INI or YAML (read by ansible-core's ansible-inventory, "
                                            "the optional [ansible] extra) or a file holding ansible-inventory --list output "
                                            "(read without it)", must_exist=True),
                         "groups": Field("list[str]", "only hosts in these groups (default: every host)"),
                     }),
    **{kind: Field("targets", f"{kind} targets by name") for kind in KINDS},
}



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
    raise_problems(loader, "inventory", display_path(path))
    assert inventory is not None
    return inventory




def _build(ld: YamlLoader, tree: Any, digest: str, timeout_override: float | None) -> Inventory | None:
    if tree is None:
        if not ld.problems:  # a syntax error or a refused tag left no tree: the file is not empty
            ld.problem(1, "", "the inventory is empty; name at least one target kind (see inventories/example.yml)")
        return None
    if not isinstance(tree.value, dict):
        ld.problem(tree.line, "", f"expected a mapping of settings and target kinds at the top level, got {typename(tree.value)}")
        return None
    top = tree.value
    settings = read_record(ld, top, TOP_LEVEL, "", skip=set(KINDS) | {"thresholds"})
    global_thresholds = _thresholds(ld, top.get("thresholds"), "thresholds")
    timeout = float(timeout_override or settings.get("timeout", DEFAULT_TIMEOUT))
    active = bool(settings.get("active_probes", False))
    if settings.get("version", 1) != 1:
        ld.problem(top["version"].line, "version", f"unsupported inventory version {settings['version']}; this plugin reads version 1")

    targets: list[Target] = []
    seen: dict[str, str] = {}
    made = dict(global_thresholds=global_thresholds, timeout=timeout, active=active)
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
            target = _target(ld, kind, name, node.value, node.line, keypath, **made)  # type: ignore[arg-type]
            if target is not None:
                targets.append(target)
    if "ansible" in top and isinstance(settings.get("ansible"), Mapping):
        targets += _ansible_targets(ld, top["ansible"], settings["ansible"], seen, made)
    if ld.problems:
        return None
    targets = [_with_endpoint(ld, target) for target in targets]
    if ld.problems:
        return None
    name = str(settings.get("name") or ld.path.stem)
    return Inventory(
        path=ld.path, name=name, sha256=digest, timeout=timeout, active_probes=active,
        thresholds=MappingProxyType({**defaults(), **global_thresholds}),
        targets=tuple(sorted(targets, key=lambda t: (t.kind, t.name))),
        settings=MappingProxyType({k: v for k, v in settings.items() if k in ("attestations", "waivers", "description")}),
    )



def _target(ld: YamlLoader, kind: str, name: str, nodes: dict[str, YamlNode], line: int, keypath: str, *,
            global_thresholds: dict[str, float | int], timeout: float, active: bool) -> Target | None:
    """One target of ``kind`` from its keys' nodes, validated; None (and problems) if it is not one."""
    spec = read_record(ld, nodes, {**COMMON, **SCHEMA[kind]}, keypath, skip={"thresholds"})
    missing = [k for k, f in SCHEMA[kind].items() if f.required and k not in nodes]
    for key in missing:
        ld.problem(line, f"{keypath}.{key}", f"required key missing: {SCHEMA[kind][key].doc}")
    if any(f.required and k not in spec for k, f in SCHEMA[kind].items()):
        return None
    validate = BY_NAME[kind].validate
    if validate is not None:
        validate(ld, spec, nodes, keypath)
    merged = {**defaults(), **global_thresholds, **_thresholds(ld, nodes.get("thresholds"), f"{keypath}.thresholds")}
    common = {k: spec.pop(k) for k in list(spec) if k in COMMON}
    return Target(
        kind=kind, name=name, spec=MappingProxyType(spec),
        roles=tuple(common.get("roles", ())), tags=tuple(common.get("tags", ())),
        timeout=float(common.get("timeout", timeout)),
        thresholds=MappingProxyType(merged),
        active_probes=bool(common.get("active_probes", active)),
        source=f"{ld.display}:{line}",
        description=str(common.get("description", "")),
    )


def _ansible_targets(ld: YamlLoader, node: YamlNode, settings: Mapping[str, Any], seen: dict[str, str],
                     made: dict[str, Any]) -> list[Target]:
    """The ``hosts`` targets of the Ansible inventory named by the ``ansible`` key (ansible.py),
    each validated like a hosts entry written in this file; problems point at the ``ansible`` key."""
    if "inventory" not in settings:
        if isinstance(node.value, dict) and "inventory" not in node.value:
            ld.problem(node.line, "ansible.inventory", "required key missing: the Ansible inventory's path")
        return []
    path = Path(str(settings["inventory"]))
    try:
        hosts = ansible.read_hosts(path)
    except ansible.AnsibleInventoryError as exc:
        ld.problem(node.line, "ansible.inventory", f"{display_path(path)}: {exc}")
        return []
    wanted = set(settings.get("groups") or ())
    unknown = sorted(wanted - ansible.group_names(hosts))
    if unknown:
        ld.problem(node.line, "ansible.groups", f"no group {', '.join(unknown)} in {display_path(path)}; "
                   f"its groups are {', '.join(sorted(ansible.group_names(hosts))) or 'none'}")
        return []
    keys = {**COMMON, **SCHEMA["hosts"]}
    targets: list[Target] = []
    for host in hosts:
        if wanted and not wanted & set(host.groups):
            continue
        keypath = f"ansible[{host.name}]"
        for secret in ansible.secrets(host):
            ld.redactor.add(secret)
        if not NAME_RE.match(host.name):
            ld.problem(node.line, keypath, "target names may hold letters, digits, '.', '_' and '-'; rename the host or "
                       "narrow ansible.groups")
            continue
        if host.name in seen:
            ld.problem(node.line, keypath, f"name already used by {seen[host.name]}; target names are unique across kinds")
            continue
        seen[host.name] = f"{keypath} ({display_path(path)})"
        record, problems = ansible.hosts_record(host, keys, path.parent)
        for problem in problems:
            ld.problem(node.line, keypath, problem)
        if problems:
            continue
        target = _target(ld, "hosts", host.name, {k: _as_node(v, node.line) for k, v in record.items()}, node.line, keypath, **made)
        if target is not None:
            targets.append(target)
    if not targets and not ld.problems:
        ld.problem(node.line, "ansible", f"{display_path(path)} names no host{' in those groups' if wanted else ''}")
    return targets


def _as_node(value: Any, line: int) -> YamlNode:
    """A value from Ansible as the reader's ``(value, line)`` tree; ``$`` doubled so that nothing
    in it is read as a ``${VAR}``."""
    if isinstance(value, dict):
        return YamlNode({str(k): _as_node(v, line) for k, v in value.items()}, line)
    if isinstance(value, list):
        return YamlNode([_as_node(v, line) for v in value], line)
    if isinstance(value, str):
        return YamlNode(value.replace("$", "$$"), line)
    return YamlNode(value, line)


def _with_endpoint(ld: YamlLoader, target: Target) -> Target:
    """The target with the TCP address its kind says it is reached at (the reachability pre-flight)."""
    try:
        endpoint = BY_NAME[target.kind].address(target)
    except Exception as exc:  # noqa: BLE001 - a client library's parser (libpq's) rejecting the value
        line = int(target.source.rsplit(":", 1)[1])
        ld.problem(line, f"{target.kind}.{target.name}", f"cannot tell the host and port from the address: {exc}; fix the URL or DSN")
        return target
    return dataclasses.replace(target, endpoint=endpoint)


def _thresholds(ld: YamlLoader, node: YamlNode | None, keypath: str) -> dict[str, float | int]:
    if node is None:
        return {}
    if not isinstance(node.value, dict):
        bad(ld, node, keypath, "a mapping of threshold names to numbers", node.value)
        return {}
    out: dict[str, float | int] = {}
    for key, sub in node.value.items():
        spec = THRESHOLDS.get(key)
        if spec is None:
            hint = closest(key, THRESHOLDS)
            ld.problem(sub.line, f"{keypath}.{key}", f"unknown threshold{'; did you mean ' + repr(hint) + '?' if hint else ''} (see the README's threshold table)")
            continue
        value = read_value(ld, sub, Field("int" if spec.integer else "number", spec.doc), f"{keypath}.{key}", secret=False)
        if value is not INVALID:
            if value < 0:
                ld.problem(sub.line, f"{keypath}.{key}", f"must not be negative, got {value}")
                continue
            if spec.maximum is not None and value > spec.maximum:  # e.g. latency_samples: 100000000 would run for ever
                ld.problem(sub.line, f"{keypath}.{key}", f"{value:,} is out of range: at most {spec.maximum:,g} {spec.unit}")
                continue
            out[key] = value
    return out



def iter_fields() -> Iterator[tuple[str, str, Field]]:
    """(section, key, field) for every documented inventory key, for the README reference."""
    for key, f in TOP_LEVEL.items():
        yield "top level", key, f
    for key, f in COMMON.items():
        yield "every target", key, f
    for kind, schema in SCHEMA.items():
        for key, f in schema.items():
            yield kind, key, f

