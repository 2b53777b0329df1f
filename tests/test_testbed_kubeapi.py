"""The stand-in Kubernetes API server serves what the real clients expect.

The stand-in exists because no Kubernetes API server can run here; these tests hold it to the shape
the official Python client (``kubernetes``) and ``kubectl`` parse, so a check tested against it talks
to it exactly as it would to a cluster.  All traffic goes to 127.0.0.1 over HTTPS.
"""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest

from tests.servers.base import LOOPBACK, Instance
from tests.servers.certs import TestCA
from tests.servers.kubeapi import DATA, launch_kubeapi


def _client(instance: Instance, monkeypatch: pytest.MonkeyPatch) -> kubernetes.client.ApiClient:
    for key, value in instance.env.items():
        monkeypatch.setenv(key, value)  # the kubeconfig's exec plugin reads the token from here
    return kubernetes.config.new_client_from_config(config_file=instance.entry["kubeconfig"], context=instance.entry["context"])


@pytest.fixture
def good(kube_good: Instance, monkeypatch: pytest.MonkeyPatch) -> Iterator[kubernetes.client.ApiClient]:
    with _client(kube_good, monkeypatch) as client:
        yield client


@pytest.fixture
def bad(kube_bad: Instance, monkeypatch: pytest.MonkeyPatch) -> Iterator[kubernetes.client.ApiClient]:
    with _client(kube_bad, monkeypatch) as client:
        yield client


def _raw(client: kubernetes.client.ApiClient, call: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """The JSON body as the server sent it, not the client's model of it."""
    response = call(*args, _preload_content=False, **kwargs)
    return dict(json.loads(response.data))


def _get(instance: Instance, path: str, token: str | None, method: str = "GET") -> tuple[int, dict[str, Any]]:
    context = ssl.create_default_context(cafile=instance.admin["ca_file"])
    request = urllib.request.Request(instance.admin["url"] + path, method=method, data=b"{}" if method != "GET" else None)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context))
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_list_shapes_are_the_api_servers(good: kubernetes.client.ApiClient) -> None:
    core, apps = kubernetes.client.CoreV1Api(good), kubernetes.client.AppsV1Api(good)
    pods = _raw(good, core.list_namespaced_pod, "shop")
    assert pods["kind"] == "PodList" and pods["apiVersion"] == "v1"
    assert pods["metadata"]["resourceVersion"].isdigit()
    # Built-in list items carry no kind/apiVersion, as from a real API server; the list says what they are.
    assert pods["items"] and all("kind" not in item and item["metadata"]["namespace"] == "shop" for item in pods["items"])
    deployments = _raw(good, apps.list_deployment_for_all_namespaces)
    assert (deployments["kind"], deployments["apiVersion"]) == ("DeploymentList", "apps/v1")
    certificates = kubernetes.client.CustomObjectsApi(good).list_cluster_custom_object("cert-manager.io", "v1", "certificates")
    assert certificates["kind"] == "CertificateList"
    assert certificates["items"][0]["kind"] == "Certificate"  # custom resources keep theirs


def test_official_client_lists_every_resource_the_rules_read(good: kubernetes.client.ApiClient) -> None:
    core, apps = kubernetes.client.CoreV1Api(good), kubernetes.client.AppsV1Api(good)
    assert sorted(p.metadata.name for p in core.list_pod_for_all_namespaces().items) == [
        "web-7c9d8b6f4-2xk9p", "web-7c9d8b6f4-8qjzw", "web-7c9d8b6f4-tm4rd"]
    assert [(n.metadata.name, [c.status for c in n.status.conditions if c.type == "Ready"]) for n in core.list_node().items] == [
        ("node-a", ["True"]), ("node-b", ["True"])]
    web = apps.list_namespaced_deployment("shop").items[0]
    assert (web.metadata.name, web.spec.replicas, web.status.available_replicas, web.status.observed_generation) == ("web", 3, 3, 4)
    assert web.spec.template.spec.containers[0].security_context.read_only_root_filesystem is True  # the manifest came through whole
    assert [(c.metadata.name, c.status.phase) for c in core.list_persistent_volume_claim_for_all_namespaces().items] == [("uploads", "Bound")]
    assert kubernetes.client.VersionApi(good).get_code().git_version == "v1.30.0"
    assert kubernetes.client.NetworkingV1Api(good).read_namespaced_ingress("web", "shop").spec.tls[0].secret_name == "web-tls"
    assert [b.metadata.name for b in kubernetes.client.RbacAuthorizationV1Api(good).list_namespaced_role_binding("shop").items] == ["web-config-reader"]


def test_selectors_and_single_objects(good: kubernetes.client.ApiClient) -> None:
    core = kubernetes.client.CoreV1Api(good)
    assert len(core.list_namespaced_pod("shop", label_selector="app.kubernetes.io/name=web,pod-template-hash in (7c9d8b6f4)").items) == 3
    assert core.list_namespaced_pod("shop", label_selector="app.kubernetes.io/name!=web").items == []
    assert [p.metadata.name for p in core.list_pod_for_all_namespaces(field_selector="spec.nodeName=node-b").items] == ["web-7c9d8b6f4-8qjzw"]
    assert core.read_namespace("shop").metadata.labels["pod-security.kubernetes.io/enforce"] == "restricted"
    with pytest.raises(kubernetes.client.ApiException) as info:
        core.read_namespaced_pod("nope", "shop")
    assert info.value.status == 404
    assert json.loads(info.value.body)["reason"] == "NotFound"
    assert core.list_namespaced_pod("elsewhere").items == []


def test_bad_cluster_shows_its_trouble(bad: kubernetes.client.ApiClient) -> None:
    core, apps = kubernetes.client.CoreV1Api(bad), kubernetes.client.AppsV1Api(bad)
    crashing = [cs for p in core.list_pod_for_all_namespaces().items for cs in p.status.container_statuses or []
                if cs.state.waiting and cs.state.waiting.reason == "CrashLoopBackOff"]
    assert [(cs.name, cs.restart_count) for cs in crashing] == [("web", 12)]
    ready = {n.metadata.name: next(c.status for c in n.status.conditions if c.type == "Ready") for n in core.list_node().items}
    assert ready == {"node-a": "True", "node-b": "Unknown"}
    assert [c.status.phase for c in core.list_persistent_volume_claim_for_all_namespaces().items] == ["Pending"]
    web = apps.read_namespaced_deployment("web", "shop")
    assert (web.metadata.generation, web.status.observed_generation, web.status.available_replicas) == (3, 2, 0)
    cert = kubernetes.client.CustomObjectsApi(bad).get_namespaced_custom_object("cert-manager.io", "v1", "shop", "certificates", "web-tls")
    assert cert["status"]["conditions"][0]["status"] == "False"


def test_token_is_required_and_writes_are_refused(kube_good: Instance) -> None:
    status, body = _get(kube_good, "/api/v1/pods", None)
    assert (status, body["kind"], body["reason"]) == (401, "Status", "Unauthorized")
    assert _get(kube_good, "/api/v1/pods", "wrong")[0] == 401
    token = kube_good.admin["token"]
    assert _get(kube_good, "/api/v1/pods", token)[0] == 200
    status, body = _get(kube_good, "/api/v1/namespaces/shop/pods", token, method="POST")
    assert (status, body["reason"]) == (405, "MethodNotAllowed")
    assert _get(kube_good, "/api/v1/pods?watch=true", token)[0] == 405
    assert _get(kube_good, "/apis/apps/v1/namespaces/shop/nodes", token)[0] == 404  # nodes are cluster-scoped, and not in apps


def test_kubeconfig_holds_no_secret(kube_good: Instance) -> None:
    text = Path(kube_good.entry["kubeconfig"]).read_text()
    assert kube_good.admin["token"] not in text
    assert kube_good.entry["token"] == "${DC_KUBE_GOOD_TOKEN}" and set(kube_good.env) == {"DC_KUBE_GOOD_TOKEN"}


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_get_json(kube_bad: Instance, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in kube_bad.env.items():
        monkeypatch.setenv(key, value)
    def kubectl(*args: str) -> dict[str, Any]:
        result = subprocess.run(["kubectl", "--kubeconfig", kube_bad.entry["kubeconfig"], *args, "-o", "json"],
                                capture_output=True, text=True, timeout=120, check=False)
        assert result.returncode == 0, result.stderr
        return dict(json.loads(result.stdout))

    pods = kubectl("get", "pods", "--all-namespaces")
    assert pods["kind"] == "List" and {p["metadata"]["name"] for p in pods["items"]} == {"web-5f6d7c8b9-x2x7q", "log-agent-9kq2m", "debug"}
    assert kubectl("get", "deployment", "web")["status"]["availableReplicas"] == 0  # the context's namespace is shop
    assert [c["metadata"]["name"] for c in kubectl("get", "certificates")["items"]] == ["web-tls"]
    assert {n["metadata"]["name"] for n in kubectl("get", "nodes")["items"]} == {"node-a", "node-b"}
    assert any(r.startswith("GET /api/v1/pods") for r in kube_bad.admin["api"].requests)


def test_stop_closes_the_port(tmp_path: Path) -> None:
    instance = launch_kubeapi("good", ca=TestCA.create(tmp_path), manifests=[DATA / "good.yaml"], overlays=[])
    port = int(instance.admin["url"].rsplit(":", 1)[1])
    with socket.create_connection((LOOPBACK, port), timeout=2):
        pass
    instance.stop()
    with pytest.raises(OSError), socket.create_connection((LOOPBACK, port), timeout=2):
        pass
    assert not Path(instance.admin["workdir"]).exists()
