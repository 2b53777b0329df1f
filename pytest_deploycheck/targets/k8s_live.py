"""Rules only a running cluster can answer: rollouts, pods, nodes, claims and certificates.

They read objects as the list API returns them (``GET /apis/apps/v1/deployments``, ``kubectl get
-o json``), status included; ``items`` turns a list response into ``K8sObject``s (list items
carry no ``kind``: it comes from the list's ``DeploymentList``).  ``owned`` drops what a
controller made (a ReplicaSet's pods, a CronJob's Jobs), so the manifest-shaped rules of
``k8s_manifests.py`` judge a live Deployment once, by its template, and not again in each pod.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pytest_deploycheck.targets.container_common import Finding
from pytest_deploycheck.targets.k8s_manifests import CLUSTER_SCOPED, K8sObject


def items(response: Mapping[str, Any], kind: str, source: str) -> list[K8sObject]:
    """Items of a list response as objects located at ``source`` (the cluster's label)."""
    list_kind = str(response.get("kind", ""))
    item_kind = list_kind[:-4] if list_kind.endswith("List") and list_kind != "List" else kind
    objects = []
    for item in response.get("items") or []:
        meta = item.get("metadata") or {}
        own = str(item.get("kind") or item_kind)
        namespace = "" if own in CLUSTER_SCOPED else str(meta.get("namespace") or "")
        objects.append(K8sObject(own, str(item.get("apiVersion") or response.get("apiVersion", "")), namespace, str(meta.get("name", "?")), item, source))
    return objects


def owned(obj: K8sObject) -> bool:
    """Whether a controller made ``obj`` (an ownerReference with ``controller: true``)."""
    return any(ref.get("controller") for ref in (obj.doc.get("metadata") or {}).get("ownerReferences") or [])


def standalone(objects: Iterable[K8sObject]) -> list[K8sObject]:
    """``objects`` without the ones a controller made: what the manifest-shaped rules should judge."""
    return [o for o in objects if not owned(o)]


def _condition(item: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    return next((c for c in (item.get("status") or {}).get("conditions") or [] if c.get("type") == kind), None)



def live_rollouts(objects: Sequence[K8sObject]) -> list[Finding]:
    """Deployments and StatefulSets are rolled out (observedGeneration, updatedReplicas) and available."""
    findings: list[Finding] = []
    for obj in (o for o in objects if o.kind in {"Deployment", "StatefulSet"}):
        spec, status, meta = obj.doc.get("spec") or {}, obj.doc.get("status") or {}, obj.doc.get("metadata") or {}
        want = int(spec.get("replicas", 1))
        problems = []
        if int(status.get("observedGeneration", 0)) < int(meta.get("generation", 0)):
            problems.append(f"controller has not seen generation {meta.get('generation')} (observed {status.get('observedGeneration', 0)})")
        if int(status.get("updatedReplicas", 0)) < want:
            problems.append(f"{status.get('updatedReplicas', 0)}/{want} replicas updated")
        ready_key = "availableReplicas" if obj.kind == "Deployment" else "readyReplicas"
        if int(status.get(ready_key, 0)) < want:
            problems.append(f"{status.get(ready_key, 0)}/{want} replicas {ready_key[:-8]}")
        progressing = _condition(obj.doc, "Progressing")
        if progressing and progressing.get("reason") == "ProgressDeadlineExceeded":
            problems.append("progress deadline exceeded")
        if problems:
            findings.append(Finding(obj.ident, obj.source, "not rolled out: " + "; ".join(problems), "live-rollout", "critical"))
    return findings


_BAD_WAITING = {"CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError", "CreateContainerError", "InvalidImageName", "RunContainerError"}


def live_pods(objects: Sequence[K8sObject], *, restart_threshold: int = 5) -> list[Finding]:
    """No container is crash-looping (or failing to pull / start), none restarted more than
    ``restart_threshold`` times, and none was last ended by the OOM killer (its memory limit is
    below what it uses: the next peak ends it again)."""
    findings: list[Finding] = []
    for obj in (o for o in objects if o.kind == "Pod"):
        status = obj.doc.get("status") or {}
        for cs in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
            waiting = ((cs.get("state") or {}).get("waiting") or {}).get("reason")
            restarts = int(cs.get("restartCount", 0))
            if waiting in _BAD_WAITING:
                findings.append(Finding(obj.ident, obj.source, f"container {cs.get('name')} is in {waiting} (restarted {restarts} times)", "live-pod", "critical"))
            elif restarts > restart_threshold:
                findings.append(Finding(obj.ident, obj.source, f"container {cs.get('name')} restarted {restarts} times (threshold {restart_threshold})", "live-pod-restarts", "high"))
            last = ((cs.get("lastState") or {}).get("terminated") or {})
            if last.get("reason") == "OOMKilled":
                findings.append(Finding(obj.ident, obj.source, f"container {cs.get('name')} was last ended by the OOM killer "
                                        f"(at {last.get('finishedAt') or 'an unknown time'}; restarted {restarts} times)", "live-pod-oom", "high"))
    return findings


def live_nodes(objects: Sequence[K8sObject]) -> list[Finding]:
    """Every node is Ready and under no memory, disk or PID pressure."""
    findings: list[Finding] = []
    for obj in (o for o in objects if o.kind == "Node"):
        ready = _condition(obj.doc, "Ready")
        if ready is None or ready.get("status") != "True":
            reason = (ready or {}).get("reason") or "no Ready condition"
            findings.append(Finding(obj.ident, obj.source, f"node is not Ready ({reason})", "live-node", "critical"))
        for pressure in ("MemoryPressure", "DiskPressure", "PIDPressure"):
            cond = _condition(obj.doc, pressure)
            if cond is not None and cond.get("status") == "True":
                findings.append(Finding(obj.ident, obj.source, f"node reports {pressure}", "live-node", "high"))
    return findings


def live_pvcs(objects: Sequence[K8sObject]) -> list[Finding]:
    """Every PersistentVolumeClaim is Bound."""
    return [Finding(o.ident, o.source, f"claim is {(o.doc.get('status') or {}).get('phase', 'unknown')}, not Bound", "live-pvc", "high")
            for o in objects if o.kind == "PersistentVolumeClaim" and (o.doc.get("status") or {}).get("phase") != "Bound"]


def live_certificates(objects: Sequence[K8sObject]) -> list[Finding]:
    """Every cert-manager Certificate has condition Ready=True."""
    findings: list[Finding] = []
    for obj in (o for o in objects if o.kind == "Certificate"):
        ready = _condition(obj.doc, "Ready")
        if ready is None or ready.get("status") != "True":
            detail = ": ".join(str(x) for x in ((ready or {}).get("reason"), (ready or {}).get("message")) if x) or "no Ready condition"
            findings.append(Finding(obj.ident, obj.source, f"certificate is not Ready ({detail})", "live-certificate", "high"))
    return findings


def live_gitops(objects: Sequence[K8sObject]) -> list[Finding]:
    """Argo CD Applications synced and healthy; Flux Kustomizations and HelmReleases Ready and not suspended."""
    findings: list[Finding] = []
    for obj in objects:
        status = obj.doc.get("status") or {}
        if obj.kind == "Application":
            sync = str((status.get("sync") or {}).get("status") or "Unknown")
            health = status.get("health") or {}
            problems = []
            if sync != "Synced":
                revision = (status.get("sync") or {}).get("revision")
                problems.append(f"sync {sync}" + (f" (at {str(revision)[:12]})" if revision else ""))
            if health.get("status") != "Healthy":
                problems.append(f"health {health.get('status') or 'Unknown'}" + (f": {str(health['message'])[:160]}" if health.get("message") else ""))
            operation = status.get("operationState") or {}
            if operation.get("phase") in ("Failed", "Error"):
                problems.append(f"last sync {operation['phase']}: {str(operation.get('message') or '')[:160]}".rstrip(": "))
            if problems:
                findings.append(Finding(obj.ident, obj.source, "; ".join(problems), "live-gitops", "high"))
        elif obj.kind in ("Kustomization", "HelmRelease"):
            if (obj.doc.get("spec") or {}).get("suspend") is True:
                findings.append(Finding(obj.ident, obj.source, "suspended: changes are not applied", "live-gitops", "high"))
                continue
            ready = _condition(obj.doc, "Ready")
            if ready is None or ready.get("status") != "True":
                detail = ": ".join(str(x) for x in ((ready or {}).get("reason"), (ready or {}).get("message")) if x) or "no Ready condition"
                findings.append(Finding(obj.ident, obj.source, f"not Ready ({detail[:200]})", "live-gitops", "high"))
    return findings
