"""Hosts from an Ansible inventory: INI and YAML through ansible-core's own ansible-inventory (the
optional [ansible] extra), the JSON of ``ansible-inventory --list`` without it, and every refusal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pytest_deploycheck import ansible
from pytest_deploycheck.inventory import Inventory, load_inventory
from pytest_deploycheck.redact import Redactor

INI = """
[web]
web1 ansible_host=10.0.0.11 ansible_user=deploy ansible_port=2222
web2 ansible_host=10.0.0.12 ansible_user=deploy

[db]
db1 ansible_connection=local ansible_become=true ansible_become_user=postgres

[prod:children]
web
db

[web:vars]
deploycheck_services=["nginx"]
deploycheck_listen_allow=[22, 443]
"""

YAML = """
all:
  children:
    prod:
      children:
        web:
          hosts:
            web1: {ansible_host: 10.0.0.11, ansible_user: deploy, ansible_port: 2222}
            web2: {ansible_host: 10.0.0.12, ansible_user: deploy}
          vars:
            deploycheck_services: [nginx]
            deploycheck_listen_allow: [22, 443]
        db:
          hosts:
            db1: {ansible_connection: local, ansible_become: true, ansible_become_user: postgres}
"""


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # messages name files relative to the working folder


@pytest.fixture
def needs_ansible() -> None:
    if not ansible.ansible_core_installed():
        # The test extra installs it: in CI a missing ansible-core is a failure, never a silent skip.
        (pytest.fail if os.environ.get("CI") else pytest.skip)("ansible-core is not installed (pip install -e '.[test]')")


def inventory(tmp_path: Path, source_name: str, source: str, extra: str = "") -> Inventory:
    (tmp_path / source_name).write_text(textwrap.dedent(source))
    path = tmp_path / "inv.yml"
    path.write_text(f"name: from-ansible\nansible:\n  inventory: {source_name}\n{extra}")
    return load_inventory(path, redactor=Redactor())


def problems(tmp_path: Path, source_name: str, source: str, extra: str = "") -> str:
    with pytest.raises(pytest.UsageError) as info:
        inventory(tmp_path, source_name, source, extra)
    return str(info.value)


def summary(inv: Inventory) -> dict[str, dict[str, object]]:
    return {t.name: {"backend": t.spec["backend"], "roles": t.roles, "sudo": t.spec.get("sudo"), "sudo_user": t.spec.get("sudo_user"),
                     "services": t.spec.get("services"), "listen_allow": t.spec.get("listen_allow")} for t in inv.targets}


EXPECTED = {
    "db1": {"backend": "local://", "roles": ("db", "prod"), "sudo": True, "sudo_user": "postgres", "services": None, "listen_allow": None},
    "web1": {"backend": "ssh://deploy@10.0.0.11:2222", "roles": ("prod", "web"), "sudo": None, "sudo_user": None,
             "services": ("nginx",), "listen_allow": (22, 443)},
    "web2": {"backend": "ssh://deploy@10.0.0.12", "roles": ("prod", "web"), "sudo": None, "sudo_user": None,
             "services": ("nginx",), "listen_allow": (22, 443)},
}


@pytest.mark.usefixtures("needs_ansible")
@pytest.mark.parametrize(("name", "source"), [("hosts.ini", INI), ("hosts.yml", YAML)])
def test_static_inventories_through_ansible_core(tmp_path: Path, name: str, source: str) -> None:
    inv = inventory(tmp_path, name, source)
    assert summary(inv) == EXPECTED
    assert all(t.kind == "hosts" and t.source == "inv.yml:2" for t in inv.targets)


@pytest.mark.usefixtures("needs_ansible")
def test_list_json_gives_the_same_hosts_without_ansible_core(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "hosts.ini").write_text(INI)
    listed = subprocess.run([sys.executable, "-m", "ansible.cli.inventory", "-i", str(tmp_path / "hosts.ini"), "--list"],
                            capture_output=True, text=True, check=True).stdout
    exported = subprocess.run([sys.executable, "-m", "ansible.cli.inventory", "-i", str(tmp_path / "hosts.ini"), "--list", "--export"],
                              capture_output=True, text=True, check=True).stdout
    monkeypatch.setattr(ansible, "ansible_core_installed", lambda: False)
    assert summary(inventory(tmp_path, "hosts.json", listed)) == EXPECTED
    assert summary(inventory(tmp_path, "exported.json", exported)) == EXPECTED  # group vars kept on the groups


def test_list_json_group_precedence_and_filter(tmp_path: Path) -> None:
    listed = {
        "_meta": {"hostvars": {"a": {"ansible_host": "10.1.1.1"}, "b": {"ansible_user": "own"}}},
        "all": {"children": ["ungrouped", "prod"], "vars": {"ansible_user": "base"}},
        "prod": {"children": ["web"], "vars": {"ansible_user": "prod-user"}},
        "web": {"hosts": ["a", "b"], "vars": {"ansible_user": "web-user"}},
        "batch": {"hosts": ["c"]},
    }
    inv = inventory(tmp_path, "hosts.json", json.dumps(listed), "  groups: [prod]\n")
    assert {t.name: t.spec["backend"] for t in inv.targets} == {"a": "ssh://web-user@10.1.1.1", "b": "ssh://own@b"}
    assert "no group nope in hosts.json; its groups are batch, prod, web" in problems(tmp_path, "hosts.json", json.dumps(listed), "  groups: [nope]\n")


@pytest.mark.parametrize(("hostvars", "expected"), [
    ({"ansible_password": "Hunter-22"}, "ansible[h1]: ansible_password is set; deploycheck logs in with keys"),
    ({"ansible_connection": "winrm"}, "ansible[h1]: ansible_connection winrm has no deploycheck backend; set deploycheck_backend"),
    ({"ansible_host": "{{ inventory_hostname }}.example.com"}, "ansible[h1]: backend: 'ssh://{{ inventory_hostname }}.example.com' is a Jinja template"),
    ({"ansible_become": True, "ansible_become_method": "su"}, "ansible_become_method su is not supported"),
    ({"deploycheck_colour": "red"}, "unknown host variable deploycheck_colour"),
    ({"deploycheck_services": "nginx"}, "ansible[h1].services: expected a list, got a string"),
])
def test_what_cannot_become_a_target_is_refused_by_line_and_host(tmp_path: Path, hostvars: dict[str, object], expected: str) -> None:
    listed = {"_meta": {"hostvars": {"h1": hostvars}}, "all": {"children": ["ungrouped"]}, "ungrouped": {"hosts": ["h1"]}}
    text = problems(tmp_path, "hosts.json", json.dumps(listed))
    assert expected in text
    assert "inv.yml:2:" in text
    assert "Hunter-22" not in text


def test_names_clash_and_empty_and_unreadable_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    listed = {"_meta": {"hostvars": {"me": {"ansible_connection": "local"}}}, "all": {"children": ["ungrouped"]}, "ungrouped": {"hosts": ["me"]}}
    clash = problems(tmp_path, "hosts.json", json.dumps(listed), "hosts:\n  me: {backend: 'local://'}\n")
    assert "ansible[me]: name already used by hosts.me" in clash
    assert "names no host" in problems(tmp_path, "hosts.json", json.dumps({"_meta": {"hostvars": {}}, "all": {}}))
    assert "not valid JSON (line 1" in problems(tmp_path, "hosts.json", "{nope")
    monkeypatch.setattr(ansible, "ansible_core_installed", lambda: False)
    missing = problems(tmp_path, "hosts.ini", INI)
    assert "needs ansible-core (GPL-3.0, an optional extra): pip install 'pytest-deploycheck[ansible]'" in missing
    assert "ansible-inventory -i SOURCE --list" in missing


@pytest.mark.usefixtures("needs_ansible")
def test_a_source_ansible_cannot_parse_fails_instead_of_checking_nothing(tmp_path: Path) -> None:
    text = problems(tmp_path, "hosts.yml", "all:\n  hosts: [1, 2\n")
    assert "inv.yml:2: ansible.inventory: hosts.yml: ansible-inventory could not read it" in text


def test_ansible_hosts_run_checks(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """End to end: a check parametrized over hosts runs on the Ansible host, narrowed by its group as a role."""
    monkeypatch.setenv("DEPLOYCHECK_CATALOG", "none")
    listed = {"_meta": {"hostvars": {"me": {"ansible_connection": "local"}, "other": {"ansible_connection": "local"}}},
              "all": {"children": ["app", "ungrouped"]}, "app": {"hosts": ["me"]}, "ungrouped": {"hosts": ["other"]}}
    (pytester.path / "hosts.json").write_text(json.dumps(listed))
    (pytester.path / "inv.yml").write_text("ansible:\n  inventory: hosts.json\n")
    pytester.makepyfile(test_mine='''
        import pytest

        @pytest.mark.check("mine-01", "Runs on app hosts", severity="high")
        @pytest.mark.targets(roles=["app"])
        def test_app(host):
            """The app group's hosts answer."""
            assert host.run("true").rc == 0
    ''')
    result = pytester.runpytest("--inventory=inv.yml", "-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*test_app?me? PASSED*", "*VERDICT: GO*"])
