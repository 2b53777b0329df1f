"""Every container rule on good data (no finding) and bad data (the finding, at its file:line).

The rules are plain functions (``pytest_deploycheck/targets/dockerfile.py``, ``compose.py``,
``k8s_manifests.py``, ``k8s_live.py``); the catalog checks that apply them are tested in
``test_checks_containers.py`` and ``test_checks_kubernetes.py``.  The live rules read the list
JSON that the stand-in API server (``tests/servers/kubeapi.py``) serves to the official client,
so they see exactly the shape a cluster sends.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml

from pytest_deploycheck.targets import compose as c
from pytest_deploycheck.targets import dockerfile as d
from pytest_deploycheck.targets import k8s_live as lv
from pytest_deploycheck.targets import k8s_manifests as k
from pytest_deploycheck.targets import yaml_marks as ym
from tests.servers.base import Instance
from tests.servers.inventory import REPO, environment

DATA = REPO / "tests" / "data" / "containers"
DOCKER, COMPOSE, K8S = DATA / "docker", DATA / "compose", DATA / "k8s"


def rel(path: Path) -> str:
    return str(path)


def hits(findings: list[Any]) -> set[tuple[str, str, str]]:
    """(rule, object, location) of every finding: what a test pins down."""
    return {(f.rule, f.object, f.location) for f in findings}


# --- Dockerfile parser ---


def test_parser_directives_continuations_heredocs_stages() -> None:
    df = d.read_dockerfile(DOCKER / "good.Dockerfile")
    assert df.directives == {"syntax": "docker/dockerfile:1.7", "escape": "\\"}
    assert [(s.label, s.line) for s in df.stages] == [("build", 7), ("runtime", 21)]
    assert df.stages[0].base == "${PYTHON_IMAGE}" and df.global_arg_defaults()["PYTHON_IMAGE"].startswith("python:3.12.4")
    run = df.stages[0].instructions[0]
    # The comment line inside the continuation is dropped, the three lines are one RUN at line 8.
    assert (run.cmd, run.line) == ("RUN", 8) and "rm -rf /var/lib/apt/lists/*" in run.args and "compilers" not in run.args
    heredoc = df.stages[0].instructions[-1]
    assert heredoc.heredocs == [("EOT", "set -eu\npython -m compileall -q /src")]
    assert df.stages[1].instructions[0].cmd == "ENV"  # the here-document body did not leak into the next stage
    cache = df.stages[0].instructions[3]
    assert cache.flags == {"mount": "type=cache,target=/root/.cache/pip"} and cache.args.startswith("pip wheel")


def test_parser_backtick_escape_and_tolerance() -> None:
    df = d.parse_dockerfile("# escape=`\nFROM alpine:3.20\nRUN apk add `\n    --no-cache curl\nFROOBLE whatever\nUSER 10001\n", "x/Dockerfile")
    assert df.directives == {"escape": "`"}
    assert [(i.cmd, i.line) for i in df.final.instructions] == [("RUN", 3), ("FROOBLE", 5), ("USER", 6)]
    assert d.dockerfile_package_caches(df) == []
    # A directive after a blank line is a comment, not a directive.
    assert d.parse_dockerfile("\n# escape=`\nFROM scratch\n").directives == {}


DOCKER_BAD = DOCKER / "bad.Dockerfile"


@pytest.mark.parametrize(("rule", "expected"), [
    (d.dockerfile_user, {("DL3002", "Dockerfile/stage-2", f"{DOCKER_BAD}:19")}),
    (d.dockerfile_healthcheck, {("CIS-4.6", "Dockerfile/stage-2", f"{DOCKER_BAD}:9")}),
    (d.dockerfile_base_images, {("DL3006", "Dockerfile/assets", f"{DOCKER_BAD}:1"), ("DL3007", "Dockerfile/stage-2", f"{DOCKER_BAD}:9"),
                                ("image-digest", "Dockerfile/tools", f"{DOCKER_BAD}:6")}),
    (d.dockerfile_secrets, {("CIS-4.10", "Dockerfile/stage-2", f"{DOCKER_BAD}:10"), ("CIS-4.10", "Dockerfile/stage-2", f"{DOCKER_BAD}:11")}),
    (d.dockerfile_add, {("DL3020", "Dockerfile/stage-2", f"{DOCKER_BAD}:16")}),
    (d.dockerfile_package_caches, {("DL3009", "Dockerfile/stage-2", f"{DOCKER_BAD}:12"), ("DL3019", "Dockerfile/tools", f"{DOCKER_BAD}:7"),
                                   ("DL3042", "Dockerfile/stage-2", f"{DOCKER_BAD}:15")}),
    (d.dockerfile_toolchain, {("multi-stage", "Dockerfile/stage-2", f"{DOCKER_BAD}:12")}),
    (d.dockerfile_signals, {("DL3025", "Dockerfile/stage-2", f"{DOCKER_BAD}:20")}),
])
def test_dockerfile_rule(rule: Any, expected: set[tuple[str, str, str]]) -> None:
    assert rule(d.read_dockerfile(DOCKER / "good.Dockerfile")) == []
    assert hits(rule(d.read_dockerfile(DOCKER_BAD))) == expected


def test_dockerfile_messages_carry_evidence_not_secrets() -> None:
    findings = d.dockerfile_findings(d.read_dockerfile(DOCKER_BAD))
    text = "\n".join(f.message for f in findings)
    assert "hunter2" not in text and "ghp_0123456789abcdef" not in text
    assert "DB_PASSWORD" in text and "'python:latest'" in text and "build-essential, gcc" in text
    assert {f.severity for f in findings if f.rule == "DL3002"} == {"high"}
    assert {f.severity for f in findings if f.rule in {"multi-stage", "image-digest"}} == {"info"}


@pytest.mark.parametrize(("text", "rule", "expected"), [
    ("FROM alpine:3.20\nRUN true\n", d.dockerfile_user, "no USER in the final stage"),
    ("FROM alpine:3.20\nUSER 0:0\n", d.dockerfile_user, "runs as '0:0'"),
    ("FROM alpine:3.20 AS base\nUSER root\nFROM base\n", d.dockerfile_user, "runs as 'root'"),
    ("FROM alpine:3.20\nHEALTHCHECK NONE\n", d.dockerfile_healthcheck, "HEALTHCHECK NONE"),
    ("FROM golang:1.22\nRUN go build ./...\n", d.dockerfile_toolchain, "base image golang:1.22"),
    ("FROM node:20.11\nRUN npm ci\n", d.dockerfile_toolchain, "runs npm ci"),
    ("FROM python:3.12\nRUN pip3 install --upgrade pip\n", d.dockerfile_package_caches, "DL3042"),
    ("FROM alpine:3.20\nENV GITHUB_TOKEN ghp_legacy_form\n", d.dockerfile_secrets, "ENV GITHUB_TOKEN"),
])
def test_dockerfile_rule_inline_failures(text: str, rule: Any, expected: str) -> None:
    findings = rule(d.parse_dockerfile(text))
    assert len(findings) == 1 and expected in findings[0].message


@pytest.mark.parametrize(("text", "rule"), [
    ("FROM gcr.io/distroless/static-debian12:nonroot\nCOPY app /app\n", d.dockerfile_user),  # the base image sets the user
    ("FROM alpine:3.20 AS base\nUSER app\nFROM base\n", d.dockerfile_user),  # inherited from the stage it is built on
    ("FROM alpine:3.20 AS base\nHEALTHCHECK CMD true\nFROM base\n", d.dockerfile_healthcheck),
    ("FROM scratch\nCOPY app /\n", d.dockerfile_base_images),
    ("FROM alpine:3.20@sha256:" + "a" * 64 + " AS b\nFROM b\n", d.dockerfile_base_images),  # a stage name is no image
    ("FROM alpine:3.20\nARG NPM_TOKEN\nENV PASSWORD_FILE=/run/secrets/pw TOKEN_URL=https://x API_KEY=${API_KEY}\n", d.dockerfile_secrets),
    ("FROM debian:12\nRUN --mount=type=cache,target=/var/lib/apt apt-get update && apt-get install -y curl\n", d.dockerfile_package_caches),
    ("FROM python:3.12\nENV PIP_NO_CACHE_DIR=1\nRUN pip install flask\n", d.dockerfile_package_caches),
    ("FROM debian:12\nADD --checksum=sha256:00 https://x/y.bin /y\nADD rootfs.tar.xz /\n", d.dockerfile_add),
    ("FROM node:20.11\nRUN npm ci --omit=dev\n", d.dockerfile_toolchain),
])
def test_dockerfile_rule_inline_passes(text: str, rule: Any) -> None:
    assert rule(d.parse_dockerfile(text)) == []


def test_orchestrator_probes_waive_healthcheck() -> None:
    df = d.read_dockerfile(DOCKER_BAD)
    assert d.dockerfile_healthcheck(df, orchestrator_probes=True) == []


# --- Compose ---

GOOD_FILES = [COMPOSE / "good" / "compose.yaml", COMPOSE / "good" / "compose.override.yaml"]
BAD_FILES = [COMPOSE / "bad" / "docker-compose.yml", COMPOSE / "bad" / "docker-compose.override.yml"]


def test_find_compose_files_takes_the_override() -> None:
    assert c.find_compose_files(COMPOSE / "good") == GOOD_FILES
    assert c.find_compose_files(COMPOSE / "bad") == BAD_FILES


def test_merge_follows_docker_compose_config() -> None:
    """Our merge of the source files gives what ``docker compose config`` printed for them."""
    mine = c.load_compose(GOOD_FILES)
    theirs = c.load_compose([COMPOSE / "good" / "config.yaml"])
    assert mine.name == theirs.name == "shop"
    for name in ("web", "db", "cache", "migrate"):
        a = next(s for s in mine.services if s.name == name).spec
        b = next(s for s in theirs.services if s.name == name).spec
        assert [str(c.parse_port(p)) for p in a.get("ports") or []] == [str(c.parse_port(p)) for p in b.get("ports") or []]
        assert dict(c._as_map(a.get("environment") or {})) == dict(c._as_map(b.get("environment") or {}))
        assert a.get("healthcheck") == b.get("healthcheck") and a.get("command") == b.get("command")
    web = next(s for s in mine.services if s.name == "web")
    assert web.loc("ports", 1) == f"{GOOD_FILES[1]}:5"  # the appended port keeps the override's line
    assert web.loc() == f"{GOOD_FILES[0]}:10"


def test_merge_tags_and_volume_targets(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(
        "services:\n  a:\n    image: x:1\n    command: [one]\n    volumes: ['v1:/data', './conf:/etc/x']\n    ports: ['80:80']\n    labels: [k=1]\n")
    (tmp_path / "compose.override.yaml").write_text(
        "services:\n  a:\n    command: [two]\n    volumes: ['v2:/data']\n    ports: !reset []\n    labels: !override {j: '2'}\n")
    spec = c.load_compose_dir(tmp_path).services[0].spec
    assert spec["command"] == ["two"]
    assert spec["volumes"] == ["v2:/data", "./conf:/etc/x"]
    assert "ports" not in spec
    assert dict(spec["labels"]) == {"j": "2"}


COMPOSE_BAD_SOURCE = {
    c.compose_restart: {("compose-restart", "web", "yml:4"), ("compose-restart", "db", "yml:15"), ("compose-restart", "mongo", "override.yml:8")},
    c.compose_healthcheck: {("compose-healthcheck", "web", "yml:4"), ("compose-healthcheck", "db", "yml:15"), ("compose-healthcheck", "cache", "override.yml:6"),
                            ("compose-healthcheck", "mongo", "override.yml:8")},
    c.compose_resource_limits: {("compose-limits", s, loc) for s, loc in (("web", "yml:4"), ("db", "yml:15"), ("cache", "yml:22"), ("mongo", "override.yml:8"))},
    c.compose_privileged: {("CIS-5.4", "web", "yml:6")},
    c.compose_host_network: {("CIS-5.9", "web", "yml:7")},
    c.compose_docker_socket: {("CIS-5.31", "web", "yml:13")},
    c.compose_data_ports: {("compose-data-port", "db", "yml:18"), ("compose-data-port", "cache", "override.yml:5"), ("compose-data-port", "mongo", "override.yml:11")},
    c.compose_named_volumes: {("compose-volume", "db", "yml:15"), ("compose-volume", "cache", "yml:27"), ("compose-volume", "mongo", "override.yml:13")},
    c.compose_env_secrets: {("compose-secret", "web", "yml:9"), ("compose-secret", "web", "yml:10"), ("compose-secret", "db", "yml:20")},
    c.compose_images: {("DL3006", "web", "yml:5"), ("DL3007", "db", "yml:16"), ("DL3006", "cache", "yml:23"), ("image-digest", "mongo", "override.yml:9")},
    c.compose_logging: {("compose-logging", s, loc) for s, loc in (("web", "yml:4"), ("db", "yml:15"), ("cache", "yml:29"), ("mongo", "override.yml:8"))},
}


def _short(findings: list[Any]) -> set[tuple[str, str, str]]:
    """(rule, service, which file:line) with the file named by its tail: docker-compose.yml -> yml."""
    out = set()
    for f in findings:
        path, line = f.location.rsplit(":", 1)
        tail = "override.yml" if path.endswith("override.yml") else "yml"
        out.add((f.rule, f.object.rsplit("/", 1)[1], f"{tail}:{line}"))
    return out


@pytest.mark.parametrize("rule", list(COMPOSE_BAD_SOURCE), ids=lambda f: f.__name__)
def test_compose_rule(rule: Any) -> None:
    assert rule(c.load_compose(GOOD_FILES)) == []
    assert rule(c.load_compose([COMPOSE / "good" / "config.yaml"])) == []
    bad = rule(c.load_compose(BAD_FILES))
    assert _short(bad) == COMPOSE_BAD_SOURCE[rule]
    assert all(f.object.startswith("compose-service/legacy-shop/") for f in bad)
    # The same problems are found in `docker compose config` output (at its own lines).
    from_config = rule(c.load_compose([COMPOSE / "bad" / "config.yaml"]))
    assert {(f.rule, f.object) for f in from_config} == {(f.rule, f.object) for f in bad}
    assert all(f.location.startswith(f"{COMPOSE / 'bad' / 'config.yaml'}:") for f in from_config)


def test_compose_secret_message_redacts() -> None:
    messages = [f.message for f in c.compose_env_secrets(c.load_compose(BAD_FILES))]
    assert not any("hunter2" in m or "sk_live_0123456789" in m for m in messages)
    assert any("a literal value of 7 characters" in m for m in messages)  # its length, never a character of it
    ports = [f.message for f in c.compose_data_ports(c.load_compose(BAD_FILES))]
    assert any("Redis port 0.0.0.0:6379:6379/tcp" in m for m in ports)


def test_compose_one_shot_and_inherited_healthcheck(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM alpine:3.20\nHEALTHCHECK CMD wget -q -O- http://127.0.0.1/ || exit 1\nUSER 1000\n")
    (tmp_path / "compose.yaml").write_text(
        "services:\n  app:\n    build: .\n    restart: unless-stopped\n"
        "  seed:\n    image: alpine:3.20\n    x-deploycheck: {one-shot: true}\n"
        "  worker:\n    image: alpine:3.20\n    deploy: {restart_policy: {condition: on-failure}}\n    healthcheck: {test: [CMD, 'true']}\n")
    project = c.load_compose_dir(tmp_path)
    assert c.compose_restart(project) == [] and c.compose_healthcheck(project) == []


# --- Kubernetes manifests ---


@pytest.fixture(scope="module")
def k8s_good() -> list[Any]:
    return list(k.load_manifests([K8S / "good.yaml"]))


@pytest.fixture(scope="module")
def k8s_bad() -> list[Any]:
    return list(k.load_manifests([K8S / "bad.yaml"]))


def test_manifest_loader_expands_lists_and_identities(k8s_bad: list[Any]) -> None:
    idents = [o.ident for o in k8s_bad]
    assert "ClusterRoleBinding/web-admin" in idents and "RoleBinding/shop/everything" in idents  # from the List
    assert "Pod/tools/debug" in idents and "StorageClass/fast" in idents
    crb = next(o for o in k8s_bad if o.kind == "ClusterRoleBinding")
    assert crb.loc() == f"{K8S / 'bad.yaml'}:111"


def test_manifest_loader_reads_kubectl_json(tmp_path: Path) -> None:
    path = tmp_path / "pods.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "n"}, "spec": {"containers": [{"name": "c", "image": "i:1"}]}}]}))
    objects = k.load_manifests([path])
    assert [o.ident for o in objects] == ["Pod/n/p"]
    assert k.k8s_resources(objects)[0].location == f"{path}:1"  # JSON on one line still has a location


BAD = str(K8S / "bad.yaml")
K8S_BAD = {
    k.k8s_resources: {("k8s-resources", "Deployment/shop/web", 24), ("k8s-resources", "DaemonSet/shop/log-agent", 57), ("k8s-resources", "Pod/tools/debug", 194)},
    k.k8s_probes: {("k8s-probes", "Deployment/shop/web", 24), ("k8s-probes", "DaemonSet/shop/log-agent", 57), ("k8s-probes", "Pod/tools/debug", 194)},
    k.k8s_availability: {("k8s-replicas", "Deployment/shop/web", 12), ("k8s-pdb", "Deployment/shop/web", 6)},
    k.k8s_hpa: {("k8s-hpa", "Deployment/shop/web", 6)},
    k.k8s_security_context: {
        ("k8s-host-namespace", "Deployment/shop/web", 22), ("k8s-privileged", "Deployment/shop/web", 32),
        ("k8s-host-namespace", "DaemonSet/shop/log-agent", 55), ("k8s-hostpath", "DaemonSet/shop/log-agent", 62),
        *((rule, obj, line) for rule in ("k8s-non-root", "k8s-privilege-escalation", "k8s-readonly-rootfs", "k8s-capabilities", "k8s-seccomp")
          for obj, line in (("Deployment/shop/web", 31), ("DaemonSet/shop/log-agent", 57), ("Pod/tools/debug", 194)))},
    k.k8s_images: {("DL3007", "Deployment/shop/web", 25), ("DL3006", "DaemonSet/shop/log-agent", 58), ("DL3006", "Pod/tools/debug", 195)},
    k.k8s_env_secrets: {("k8s-env-secret", "Deployment/shop/web", 27), ("k8s-env-secret", "ConfigMap/shop/web-config", 99)},
    k.k8s_service_account_token: {("k8s-sa-token", "DaemonSet/shop/log-agent", 54), ("k8s-sa-token", "Pod/tools/debug", 192)},
    k.k8s_network_policy: {("k8s-netpol", "Namespace/shop", 1), ("k8s-netpol", "Namespace/tools", 187)},
    k.k8s_ingress_tls: {("k8s-ingress-tls", "Ingress/shop/web", 83)},
    k.k8s_rbac: {("k8s-rbac", "ClusterRoleBinding/web-admin", 119), ("k8s-rbac", "RoleBinding/shop/everything", 140)},
    k.k8s_reclaim_policy: {("k8s-reclaim", "StorageClass/fast", 145), ("k8s-reclaim", "PersistentVolume/scratch", 159)},
}


@pytest.mark.parametrize("rule", list(K8S_BAD), ids=lambda f: f.__name__)
def test_k8s_rule(rule: Any, k8s_good: list[Any], k8s_bad: list[Any]) -> None:
    assert rule(k8s_good) == []
    assert hits(rule(k8s_bad)) == {(rid, obj, f"{BAD}:{line}") for rid, obj, line in K8S_BAD[rule]}


def test_k8s_messages(k8s_bad: list[Any]) -> None:
    rbac = {f.object: f.message for f in k.k8s_rbac(k8s_bad)}
    assert rbac["ClusterRoleBinding/web-admin"] == "binds ServiceAccount shop/web to cluster-admin"
    assert f"rule at {BAD}:129 grants '*' verbs and resources" in rbac["RoleBinding/shop/everything"]
    secrets = " ".join(f.message for f in k.k8s_env_secrets(k8s_bad))
    assert "hunter2" not in secrets and "sk_live" not in secrets and "DB_PASSWORD" in secrets


def test_k8s_rule_edges() -> None:
    docs = ym.load_yaml_documents(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, namespace: n}\nspec:\n  selector: {matchLabels: {a: b}}\n"
        "  template:\n    metadata: {labels: {a: b, tier: web}}\n    spec: {containers: [{name: c, image: 'i:1'}]}\n"
        "---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: d, namespace: n}\n"
        "spec: {scaleTargetRef: {kind: Deployment, name: d}, minReplicas: 2, maxReplicas: 4}\n"
        "---\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: p, namespace: n}\n"
        "spec: {maxUnavailable: 1, selector: {matchExpressions: [{key: tier, operator: Exists}, {key: a, operator: NotIn, values: [x]}]}}\n"
        "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: n}\nspec: {podSelector: {}}\n"
        "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: i, namespace: n}\n"
        "spec: {tls: [{hosts: ['*.example.com']}], rules: [{host: a.example.com}, {host: b.c.example.com}]}\n", "edge.yaml")
    objects = k.k8s_objects(docs, "edge.yaml")
    assert k.k8s_availability(objects) == []  # the HPA floor is 2 replicas; the PDB selects with expressions
    assert k.k8s_network_policy(objects) == []  # policyTypes defaults to Ingress
    tls = k.k8s_ingress_tls(objects)
    assert [(f.message, f.location) for f in tls] == [("host b.c.example.com is not in any tls.hosts", "edge.yaml:28")]  # a wildcard covers one label


def test_k8s_schema_validation_offline(k8s_good: list[Any], tmp_path: Path) -> None:
    findings, skipped = k.k8s_schema(k8s_good, "1.30")
    assert findings == [] and skipped == ["Certificate/shop/web-tls (cert-manager.io/v1)"]  # a CRD has no schema there
    assert k.k8s_schema(k8s_good, "1.30.4")[0] == []  # a patch release reads its minor's schemas
    with pytest.raises(ValueError, match=r"no schemas for Kubernetes 1\.12"):
        k.k8s_schema(k8s_good, "1.12")
    bad = tmp_path / "typo.yaml"
    bad.write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  replicas: two\n  selector: {matchLabels: {a: b}}\n"
                   "  template:\n    metadata: {labels: {a: b}}\n    spec:\n      containers:\n        - name: c\n          image: i:1\n"
                   "---\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - name: c\n      image: i:1\n      port: 80\n")
    findings, _ = k.k8s_schema(k.load_manifests([bad]), "1.30")
    # kubernetes-validate reports the first error of each object; the location is the offending key.
    assert [(f.object, f.location) for f in findings] == [("Deployment/default/d", f"{bad}:5"), ("Pod/default/p", f"{bad}:19")]
    assert "spec.replicas: 'two' is not of type 'integer', 'null'" in findings[0].message
    assert "'port' was unexpected" in findings[1].message


# --- live rules, fed by the stand-in API server through the official client ---


LISTS = {"deployments": ("Deployment", "/apis/apps/v1/deployments"), "pods": ("Pod", "/api/v1/pods"), "nodes": ("Node", "/api/v1/nodes"),
         "pvcs": ("PersistentVolumeClaim", "/api/v1/persistentvolumeclaims"), "certificates": ("Certificate", "/apis/cert-manager.io/v1/certificates")}


def _lists(instance: Instance) -> dict[str, list[Any]]:
    """{resource: objects} from the list JSON the official client receives from the stand-in."""
    with environment(instance.env), kubernetes.config.new_client_from_config(config_file=instance.entry["kubeconfig"]) as client:
        out = {}
        for resource, (kind, path) in LISTS.items():
            method, url, headers, _, _ = client.param_serialize("GET", path, auth_settings=["BearerToken"])
            response = client.call_api(method, url, headers, _request_timeout=(5, 5))
            out[resource] = lv.items(json.loads(response.read()), kind, instance.name)
        return out


@pytest.fixture(scope="module")
def live(kube_good: Instance, kube_bad: Instance) -> dict[str, dict[str, list[Any]]]:
    return {"good": _lists(kube_good), "bad": _lists(kube_bad)}


@pytest.mark.parametrize(("rule", "resource", "expected"), [
    (lv.live_rollouts, "deployments", {("live-rollout", "Deployment/shop/web")}),
    (lv.live_pods, "pods", {("live-pod", "Pod/shop/web-5f6d7c8b9-x2x7q"), ("live-pod-restarts", "Pod/shop/log-agent-9kq2m"),
                            ("live-pod-oom", "Pod/tools/debug")}),
    (lv.live_nodes, "nodes", {("live-node", "Node/node-a"), ("live-node", "Node/node-b")}),
    (lv.live_pvcs, "pvcs", {("live-pvc", "PersistentVolumeClaim/shop/uploads")}),
    (lv.live_certificates, "certificates", {("live-certificate", "Certificate/shop/web-tls")}),
], ids=lambda v: getattr(v, "__name__", None) or (v if isinstance(v, str) else None))
def test_live_rule(live: dict[str, dict[str, list[Any]]], rule: Any, resource: str, expected: set[tuple[str, str]]) -> None:
    assert live["good"][resource] and rule(live["good"][resource]) == []
    found = rule(live["bad"][resource])
    assert {(f.rule, f.object) for f in found} == expected
    assert all(f.location == "kube-bad" for f in found)  # a live object's location is the cluster it came from


def test_live_messages(live: dict[str, dict[str, list[Any]]]) -> None:
    bad = live["bad"]
    assert lv.live_rollouts(bad["deployments"])[0].message == (
        "not rolled out: controller has not seen generation 3 (observed 2); 0/1 replicas updated; 0/1 replicas available; progress deadline exceeded")
    pods = {f.object: f.message for f in lv.live_pods(bad["pods"])}
    assert pods["Pod/shop/web-5f6d7c8b9-x2x7q"] == "container web is in CrashLoopBackOff (restarted 12 times)"
    assert pods["Pod/tools/debug"] == "container shell was last ended by the OOM killer (at 2026-01-05T08:09:58Z; restarted 1 times)"
    assert [f.rule for f in lv.live_pods(bad["pods"], restart_threshold=10)] == ["live-pod", "live-pod-oom"]
    nodes = sorted(f.message for f in lv.live_nodes(bad["nodes"]))
    assert nodes == ["node is not Ready (NodeStatusUnknown)", "node reports DiskPressure"]
    assert "ACME challenge failed" in lv.live_certificates(bad["certificates"])[0].message


def test_pod_security_levels() -> None:
    def namespace(name: str, level: str | None) -> str:
        labels = f"\n  labels:\n    pod-security.kubernetes.io/enforce: {level}" if level else ""
        return (f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}{labels}\n---\n"
                f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: app\n  namespace: {name}\nspec:\n  containers:\n  - name: app\n    image: x:1\n")
    docs = "---\n".join(namespace(n, lvl) for n, lvl in (("a", "restricted"), ("b", "baseline"), ("c", "privileged"), ("d", None), ("e", "strict")))
    docs += "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: app\n  namespace: f\nspec:\n  containers:\n  - name: app\n    image: x:1\n"
    objects = k.k8s_objects(list(yaml.safe_load_all(docs)), "ns.yaml")
    findings, judged, unseen = k.k8s_pod_security(objects)
    assert judged == ["a", "b", "c", "d", "e"] and unseen == ["f"]
    assert [(f.object, f.rule) for f in findings] == [("Namespace/b", "k8s-psa-baseline"), ("Namespace/c", "k8s-psa"), ("Namespace/d", "k8s-psa"),
                                                      ("Namespace/e", "k8s-psa")]
    assert "'strict' is no Pod Security level" in findings[3].message
