"""Hosts from the Ansible inventory a team already keeps: ``ansible: {inventory: hosts.ini}``.

Two ways in, one format read here: the JSON that ``ansible-inventory -i SOURCE --list`` prints.

* A file holding that JSON is read by this module alone; nothing of Ansible is needed.
* Any other source (INI or YAML, static, with its ``group_vars/`` and ``host_vars/``) is read by
  Ansible itself: this module runs ``python -m ansible.cli.inventory --list`` (ansible-core's own
  parser) in a child process and reads its JSON.  ansible-core is GPL-3.0, so it is an optional
  extra (``pip install 'pytest-deploycheck[ansible]'``) that the plugin never imports.

Each Ansible host becomes a ``hosts`` target (``hosts_records``): its groups (and their parent
groups) become roles, the connection variables become the backend URL and its settings, and any
host variable named ``deploycheck_<key>`` sets the inventory key ``<key>`` (``deploycheck_services``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Seconds ``ansible-inventory`` may take (a dynamic inventory plugin may call a cloud API).
RUN_TIMEOUT = 120.0

#: Ansible's groups that say nothing about a host's role.
IMPLICIT_GROUPS = frozenset({"all", "ungrouped"})

#: ansible_connection -> testinfra backend scheme.
CONNECTIONS = {
    "ssh": "ssh", "smart": "ssh", "ansible.builtin.ssh": "ssh", "paramiko": "paramiko", "paramiko_ssh": "paramiko",
    "ansible.builtin.paramiko_ssh": "paramiko", "local": "local", "ansible.builtin.local": "local",
    "docker": "docker", "community.docker.docker": "docker", "podman": "podman", "containers.podman.podman": "podman",
    "kubectl": "kubectl", "kubernetes.core.kubectl": "kubectl",
}

PASSWORD_VARS = ("ansible_password", "ansible_ssh_pass", "ansible_ssh_password")
BECOME_PASSWORD_VARS = ("ansible_become_password", "ansible_become_pass", "ansible_sudo_pass")


class AnsibleInventoryError(Exception):
    """The Ansible inventory could not be read; the message says why and what to do."""


@dataclass(frozen=True)
class AnsibleHost:
    """One host of an Ansible inventory: its name, every group it is in (parents included),
    and its variables with group variables merged in, as ``ansible-inventory --list`` gives them."""

    name: str
    groups: tuple[str, ...]
    vars: Mapping[str, Any]


def read_hosts(path: Path, *, timeout: float = RUN_TIMEOUT) -> list[AnsibleHost]:
    """The hosts of the Ansible inventory at ``path``: ``--list`` JSON directly, anything else
    through ansible-core's ``ansible-inventory``."""
    if path.is_file():
        text = path.read_text(encoding="utf-8", errors="replace")
        if text.lstrip().startswith("{"):
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise AnsibleInventoryError(f"not valid JSON (line {exc.lineno}: {exc.msg}); give the output of "
                                            "ansible-inventory -i SOURCE --list") from None
            return from_list_json(data)
    return from_list_json(run_ansible_inventory(path, timeout=timeout))


def run_ansible_inventory(path: Path, *, timeout: float = RUN_TIMEOUT) -> Any:
    """``ansible-inventory -i path --list``, run by this interpreter, parsed."""
    if not ansible_core_installed():
        raise AnsibleInventoryError(
            "reading an INI or YAML Ansible inventory needs ansible-core (GPL-3.0, an optional extra): "
            "pip install 'pytest-deploycheck[ansible]'; or give a file holding the output of ansible-inventory -i SOURCE --list")
    env = {
        **os.environ,
        # Fail instead of warning and going on with no hosts: a run must never check nothing.
        "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true", "ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED": "true",
        "ANSIBLE_NOCOLOR": "true", "ANSIBLE_FORCE_COLOR": "false", "ANSIBLE_DEPRECATION_WARNINGS": "false",
    }
    command = [sys.executable, "-m", "ansible.cli.inventory", "-i", str(path), "--list"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        raise AnsibleInventoryError(f"ansible-inventory did not finish within {timeout:g}s") from None
    if done.returncode != 0:
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        why = "; ".join(lines[-3:]) or f"exit status {done.returncode}"
        raise AnsibleInventoryError(f"ansible-inventory could not read it: {why}")
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError as exc:
        raise AnsibleInventoryError(f"ansible-inventory printed no JSON ({exc.msg})") from None


def ansible_core_installed() -> bool:
    """Whether ansible-core (the optional ``[ansible]`` extra) is importable by this interpreter."""
    return importlib.util.find_spec("ansible") is not None


def from_list_json(data: Any) -> list[AnsibleHost]:
    """Hosts of ``ansible-inventory --list`` output (also ``--export``, where group variables stay
    on the groups: they are merged here, parents first, then by group name, as Ansible does)."""
    if not isinstance(data, dict) or not ("_meta" in data or "all" in data):
        raise AnsibleInventoryError("not the output of ansible-inventory --list (no _meta or all group)")
    groups = {name: g for name, g in data.items() if name != "_meta" and isinstance(g, dict)}
    meta: dict[str, Any] = data["_meta"] if isinstance(data.get("_meta"), dict) else {}
    hostvars: dict[str, Any] = meta.get("hostvars") or {}
    parents: dict[str, set[str]] = {}
    for name, group in groups.items():
        for child in group.get("children") or ():
            parents.setdefault(str(child), set()).add(name)

    def ancestors(group: str, seen: frozenset[str] = frozenset()) -> set[str]:
        out = set()
        for parent in parents.get(group, ()):
            if parent not in seen:
                out |= {parent} | ancestors(parent, seen | {group})
        return out

    depth = {name: len(ancestors(name)) for name in groups}
    members: dict[str, set[str]] = {}
    for name, group in groups.items():
        for host in group.get("hosts") or ():
            members.setdefault(str(host), set()).update({name} | ancestors(name))
    for host in hostvars:
        members.setdefault(str(host), set()).add("all")
    hosts = []
    for name in sorted(members):
        in_groups: set[str] = members[name] | {"all"}
        merged: dict[str, Any] = {}
        for level in sorted(in_groups, key=lambda g: (depth.get(g, 0), g)):
            merged.update(groups.get(level, {}).get("vars") or {})
        merged.update(hostvars.get(name) or {})
        hosts.append(AnsibleHost(name, tuple(sorted(in_groups - IMPLICIT_GROUPS)), merged))
    return hosts


def group_names(hosts: list[AnsibleHost]) -> set[str]:
    return {g for h in hosts for g in h.groups}


def hosts_record(host: AnsibleHost, keys: Mapping[str, Any], base: Path) -> tuple[dict[str, Any], list[str]]:
    """The ``hosts`` target record of an Ansible host (plain values, validated by the inventory
    reader like any other) and the problems that keep it from being one.

    ``keys`` are the keys a hosts target may have; ``base`` is the Ansible inventory's folder,
    which a relative ``ansible_ssh_private_key_file`` is read from.
    """
    v = host.vars
    problems: list[str] = []
    own = {k.removeprefix("deploycheck_"): val for k, val in v.items() if k.startswith("deploycheck_")}
    unknown = sorted(k for k in own if k not in keys)
    if unknown:
        problems.append(f"unknown host variable {', '.join('deploycheck_' + k for k in unknown)} (deploycheck_<key> takes "
                        f"the hosts keys: {', '.join(sorted(keys))})")
    for var in PASSWORD_VARS:
        if v.get(var) not in (None, ""):
            problems.append(f"{var} is set; deploycheck logs in with keys, never a password from the inventory: use "
                            "ansible_ssh_private_key_file or an ssh-agent")
    record: dict[str, Any] = {}
    if "backend" not in own:
        backend = _backend(host, problems)
        if backend is not None:
            record["backend"] = backend
    key_file = _first(v, "ansible_ssh_private_key_file", "ansible_private_key_file")
    if key_file is not None:
        record["ssh_identity_file"] = str((base / os.path.expanduser(str(key_file))).resolve())
    become = v.get("ansible_become")
    if become is not None:
        record["sudo"] = _truthy(become)
        method = str(v.get("ansible_become_method") or "sudo")
        if record["sudo"] and method not in ("sudo", "ansible.builtin.sudo"):
            problems.append(f"ansible_become_method {method} is not supported; deploycheck runs commands through sudo -n")
    if v.get("ansible_become_user") is not None:
        record["sudo_user"] = str(v["ansible_become_user"])
    record["roles"] = list(host.groups) + [r for r in (own.pop("roles", None) or []) if r not in host.groups]
    record.setdefault("description", f"Ansible host {host.name}")
    record.update(own)
    for key, value in record.items():
        if isinstance(value, str) and "{{" in value:
            problems.append(f"{key}: {value!r} is a Jinja template, which only a playbook run renders; "
                            f"write the value, or set deploycheck_{key} for the host")
    return record, problems


def secrets(host: AnsibleHost) -> list[str]:
    """Values of the host's password variables (masked in every report, never used)."""
    return [str(host.vars[k]) for k in PASSWORD_VARS + BECOME_PASSWORD_VARS if isinstance(host.vars.get(k), (str, int))]


def _backend(host: AnsibleHost, problems: list[str]) -> str | None:
    v = host.vars
    connection = str(v.get("ansible_connection") or "ssh")
    scheme = CONNECTIONS.get(connection)
    if scheme is None:
        problems.append(f"ansible_connection {connection} has no deploycheck backend; set deploycheck_backend for the host "
                        "(a testinfra URL such as ssh://user@host)")
        return None
    if scheme == "local":
        return "local://"
    address = str(_first(v, "ansible_host", "ansible_ssh_host") or host.name)
    user = _first(v, "ansible_user", "ansible_ssh_user", "ansible_remote_user")
    if scheme in ("docker", "podman", "kubectl"):
        return f"{scheme}://{user + '@' if user else ''}{address}"
    port = _first(v, "ansible_port", "ansible_ssh_port")
    if ":" in address and not address.startswith("["):
        address = f"[{address}]"  # an IPv6 address
    return f"{scheme}://{str(user) + '@' if user else ''}{address}{':' + str(port) if port not in (None, '') else ''}"


def _first(values: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        if values.get(name) not in (None, ""):
            return values[name]
    return None


def _truthy(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("true", "yes", "on", "1")
