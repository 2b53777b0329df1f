"""The Kubernetes catalog (checks/test_kubernetes.py) on manifests and on a live cluster.

The live cluster is the stand-in API server of ``tests/servers/kubeapi.py`` (the test bed's only
stand-in: no Kubernetes API server can run here), serving the same manifests with a status
overlay, reached through a kubeconfig and the official ``kubernetes`` client exactly as a real
cluster is.  One catalog run judges the good and the bad manifests as ``files`` targets and the
good and the bad cluster as ``kubernetes`` targets: each manifest-shaped check passes on both
good ones and fails on both bad ones, and each live-only check passes on the good cluster, fails
on the bad one and is not applicable to manifests.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.servers.base import LOOPBACK, Instance, free_port
from tests.servers.certs import TestCA
from tests.servers.inventory import REPO, run_catalog
from tests.servers.kubeapi import launch_kubeapi, write_kubeconfig

DATA = REPO / "tests" / "data" / "containers"
CHECKS = [f"k8s-{n:02d}" for n in range(1, 30)]
LIVE_ONLY = {"k8s-20", "k8s-21", "k8s-22", "k8s-23", "k8s-24", "k8s-27"}
MANIFEST_ONLY = {"k8s-19"}
ONE_REPLICA = {"k8s-26"}  # the bad web Deployment runs one replica: nothing to spread (its failing case: test_replicas_spread)
BAD_SECRETS = ("hunter2", "sk_live_0123456789")


def _manifests(name: str, *files: str, **entry: object) -> Instance:
    return Instance(name=name, kind="files", entry={"path": str(DATA), "manifests": list(files), "kubernetes_version": "1.30", **entry},
                    env={}, server=None)


def _cluster(instance: Instance, name: str, **entry: object) -> Instance:
    """Another inventory entry for a running stand-in (stopping it is not ours)."""
    merged = {**instance.entry, **entry}
    return Instance(name=name, kind="kubernetes", entry={k: v for k, v in merged.items() if v is not None}, env=dict(instance.env), server=None)


def test_kubernetes_catalog(pytester: pytest.Pytester, kube_good: Instance, kube_bad: Instance) -> None:
    registries = ["registry.example.com"]
    targets = [
        _manifests("manifests-good", "k8s/good.yaml", image_registries=registries),
        _manifests("manifests-bad", "k8s/bad.yaml", "k8s/invalid.yaml", image_registries=registries),
        _cluster(kube_good, "kube-good", image_registries=registries),
        # The bad cluster in two namespaces; the token comes from the kubeconfig's exec plugin.
        _cluster(kube_bad, "kube-bad", namespace=None, namespaces=["shop", "tools"], token=None, image_registries=registries),
    ]
    run = run_catalog(pytester, "test_kubernetes.py", targets=targets)

    for check in CHECKS:
        for good in ("manifests-good", "kube-good"):
            expected = "n/a" if (good == "kube-good" and check in MANIFEST_ONLY) or (good == "manifests-good" and check in LIVE_ONLY) else "passed"
            assert run.outcome(check, good) == expected, (check, good, run.message(check, good))
        for bad in ("manifests-bad", "kube-bad"):
            message = run.message(check, bad)
            if (bad == "kube-bad" and check in MANIFEST_ONLY) or (bad == "manifests-bad" and check in LIVE_ONLY) or check in ONE_REPLICA:
                assert run.outcome(check, bad) == "n/a", (check, bad, message)
                continue
            assert run.outcome(check, bad) == "failed", (check, bad, message)
            assert "; expected " in message and run.evidence(check, bad)["problems"], (check, message)
            assert not any(s in message + json.dumps(run.evidence(check, bad)) for s in BAD_SECRETS), check

    # Manifests: the object as kubectl names it and the file:line; the live cluster: the object and the context.
    assert run.message("k8s-10", "manifests-bad").startswith(f"manifests-bad ({DATA}): ")
    assert "Deployment/shop/web (k8s/bad.yaml:22): hostNetwork: true" in run.message("k8s-10", "manifests-bad")
    assert "Deployment/shop/web: hostNetwork: true" in run.message("k8s-10", "kube-bad")
    assert run.message("k8s-17", "kube-bad").startswith("kube-bad (context kube-bad): 2 problems: ")
    assert "ClusterRoleBinding/web-admin: binds ServiceAccount shop/web to cluster-admin" in run.message("k8s-17", "kube-bad")
    assert "env DB_PASSWORD is a literal secret (a literal value of 7 characters)" in run.message("k8s-13", "kube-bad")
    assert "Namespace/tools" in run.message("k8s-15", "kube-bad")  # both namespaces were read
    schema = run.message("k8s-19", "manifests-bad")
    assert "Deployment/shop/api (k8s/invalid.yaml:9): schema 1.30: spec.replicas: 'two' is not of type 'integer'" in schema
    assert "Pod/shop/probe (k8s/invalid.yaml:27)" in schema and "'port' was unexpected" in schema
    assert run.evidence("k8s-19", "manifests-good")["not_validated"] == ["Certificate/shop/web-tls (cert-manager.io/v1)"]
    assert "a live cluster's objects were validated by its API server" in run.message("k8s-19", "kube-good")
    assert "manifests carry no rollout status" in run.message("k8s-20", "manifests-good")

    # Live-only checks: what the bad cluster shows.
    assert "Deployment/shop/web: not rolled out: controller has not seen generation 3 (observed 2)" in run.message("k8s-20", "kube-bad")
    pods = run.message("k8s-21", "kube-bad")
    assert "Pod/shop/web-5f6d7c8b9-x2x7q: container web is in CrashLoopBackOff (restarted 12 times)" in pods
    assert "Pod/shop/log-agent-9kq2m: container agent restarted 7 times (threshold 5)" in pods
    assert "Pod/tools/debug: container shell was last ended by the OOM killer (at 2026-01-05T08:09:58Z; restarted 1 times)" in pods
    assert "Node/node-b: node is not Ready (NodeStatusUnknown)" in run.message("k8s-22", "kube-bad")
    assert "PersistentVolumeClaim/shop/uploads: claim is Pending, not Bound" in run.message("k8s-23", "kube-bad")
    assert "ACME challenge failed" in run.message("k8s-24", "kube-bad")
    # Pod Security Admission: the good namespace enforces restricted; the bad one has no label; tools has no Namespace in the file.
    assert "Namespace/shop (k8s/bad.yaml:3): no pod-security.kubernetes.io/enforce label" in run.message("k8s-29", "manifests-bad")
    assert "Namespace/shop: no pod-security.kubernetes.io/enforce label" in run.message("k8s-29", "kube-bad")
    assert run.evidence("k8s-29", "kube-good")["examined"] == ["Namespace/shop"]
    registry = run.message("k8s-28", "manifests-bad")
    assert "Deployment/shop/web (k8s/bad.yaml:25): container web: image 'nginx:latest' comes from docker.io/library, not from registry.example.com" in registry
    assert "Pod/tools/debug: container shell: image 'busybox' comes from docker.io/library" in run.message("k8s-28", "kube-bad")
    gitops = run.message("k8s-27", "kube-bad")
    assert ("Application/argocd/shop: sync OutOfSync (at 9a8b7c6d5e4f); health Degraded: Deployment web exceeded its progress deadline; "
            "last sync Failed: one or more objects failed to apply") in gitops
    assert "HelmRelease/shop/redis: not Ready (UpgradeFailed: Helm upgrade failed: timed out waiting for the condition)" in gitops
    assert "Kustomization/flux-system/addons: suspended: changes are not applied" in gitops
    assert sorted(run.evidence("k8s-27", "kube-good")["examined"]) == ["Application/argocd/shop", "Kustomization/flux-system/addons"]
    # A Deployment is judged by its template, not again in each pod a ReplicaSet made.
    assert not any("Pod/shop/web-" in e["object"] for e in run.evidence("k8s-01", "kube-bad")["problems"])
    assert "Pod/tools/debug" in run.evidence("k8s-01", "kube-bad")["examined"]  # a bare pod is judged itself

    # Only reads: every request the client sent to the clusters was a GET.
    for instance in (kube_good, kube_bad):
        requests = instance.admin["api"].requests
        assert requests and all(r.startswith("GET ") for r in requests)


def test_restart_threshold_from_the_inventory(pytester: pytest.Pytester, kube_bad: Instance) -> None:
    lenient = _cluster(kube_bad, "kube-bad-lenient", thresholds={"pod_restarts_max": 10})
    run = run_catalog(pytester, "test_kubernetes.py", targets=[lenient], args=["-k", "k8s-21"])
    message = run.message("k8s-21", "kube-bad-lenient")
    assert "CrashLoopBackOff" in message and "log-agent" not in message


def test_dead_cluster_costs_one_timeout(pytester: pytest.Pytester, tmp_path: Path) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", f"https://{LOOPBACK}:{free_port()}", "DC_UNUSED_TOKEN", context="gone")
    dead = Instance(name="gone", kind="kubernetes", entry={"kubeconfig": str(kubeconfig), "timeout": 2}, env={}, server=None)
    run = run_catalog(pytester, "test_kubernetes.py", targets=[dead], args=["-k", "k8s-20 or k8s-21 or k8s-22"])
    for check in ("k8s-20", "k8s-21", "k8s-22"):
        assert run.outcome(check, "gone") == "error"
        assert "connection refused" in run.message(check, "gone")


def test_refused_token_is_an_error(pytester: pytest.Pytester, kube_good: Instance) -> None:
    wrong = _cluster(kube_good, "kube-wrong", token="${DC_KUBE_WRONG_TOKEN}")
    wrong.env["DC_KUBE_WRONG_TOKEN"] = "not-the-token"
    run = run_catalog(pytester, "test_kubernetes.py", targets=[wrong], args=["-k", "k8s-20 or k8s-22"])
    assert run.outcome("k8s-20", "kube-wrong") == "error"
    assert "refused the credentials (401 Unauthorized)" in run.message("k8s-20", "kube-wrong")
    assert run.outcome("k8s-22", "kube-wrong") == "error"  # not tried again


def test_inventory_names_an_unknown_context(pytester: pytest.Pytester, kube_good: Instance) -> None:
    typo = _cluster(kube_good, "kube-typo", context="kube-goood")
    run = pytester.runpytest_inprocess(str(REPO / "checks" / "test_kubernetes.py"),
                                       f"--inventory={_inventory(pytester, typo)}", f"--rootdir={REPO}", "-p", "no:cacheprovider")
    assert "no context 'kube-goood' in the kubeconfig (it has: kube-good)" in run.stderr.str() + run.stdout.str()


def _inventory(pytester: pytest.Pytester, *targets: Instance) -> Path:
    from tests.servers.inventory import write_inventory

    return write_inventory(pytester.path / "inventory.yml", targets)


def test_missing_extra_is_an_error_naming_the_fix(pytester: pytest.Pytester, kube_good: Instance, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the [kubernetes] extra a check errs (never passes or is n/a) and says what to install."""
    monkeypatch.setitem(sys.modules, "kubernetes", None)  # import kubernetes now raises ImportError
    monkeypatch.setitem(sys.modules, "kubernetes_validate", None)
    monkeypatch.setitem(sys.modules, "kubernetes_validate.utils", None)
    run = run_catalog(pytester, "test_kubernetes.py", targets=[kube_good, _manifests("manifests-good", "k8s/good.yaml")],
                      args=["-k", "k8s-19 or k8s-20"])
    for check, target in (("k8s-20", "kube-good"), ("k8s-19", "manifests-good")):
        assert run.outcome(check, target) == "error"
        assert "pip install 'pytest-deploycheck[kubernetes]'" in run.message(check, target)


def test_replicas_spread(pytester: pytest.Pytester, test_ca: TestCA) -> None:
    """k8s-26 on manifests and on a cluster whose multi-replica Deployments do not keep their
    replicas apart: one spreads by an OS label every node shares, one (scaled by an HPA) not at all."""
    cluster = launch_kubeapi("bad", "kube-spread", manifests=[DATA / "k8s" / "spread-bad.yaml"], overlays=[], ca=test_ca)
    try:
        run = run_catalog(pytester, "test_kubernetes.py", targets=[_manifests("manifests-spread", "k8s/spread-bad.yaml"), cluster],
                          args=["-k", "k8s-26"])
    finally:
        cluster.stop()
    for target in ("manifests-spread", "kube-spread"):
        assert run.outcome("k8s-26", target) == "failed", run.message("k8s-26", target)
    message = run.message("k8s-26", "manifests-spread")
    assert "Deployment/shop/worker (k8s/spread-bad.yaml:22): 2 replicas with no podAntiAffinity or topologySpreadConstraints" in message
    assert "Deployment/shop/api (k8s/spread-bad.yaml:50): 3 replicas with no podAntiAffinity" in message
    assert "Deployment/shop/worker: 2 replicas" in run.message("k8s-26", "kube-spread")
    assert run.evidence("k8s-26", "manifests-spread")["problems"]
