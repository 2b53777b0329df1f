"""Kubernetes objects and the rules the ``k8s-NN`` checks apply, to manifests and to a live cluster alike.

Objects come from manifest files (multi-document YAML or JSON, ``kind: List``, ``helm template``
and ``kustomize build`` output, ``kubectl get -o yaml``), each value remembering its
``file:line``, or from the list API of a live cluster (``k8s_cluster.py``), where the location
is the cluster.  Either way a finding names the object as ``kubectl`` does:
``Deployment/shop/web``, ``ClusterRoleBinding/web-admin``.

Rules mirror the Kubernetes Pod Security Standards (baseline: privileged, host namespaces,
hostPath; restricted: runAsNonRoot, allowPrivilegeEscalation, capabilities, seccomp),
kube-score and Polaris (requests and limits, probes, replicas, PodDisruptionBudget, image tag,
read-only root filesystem, service-account token) and the Kubernetes RBAC good practices
(no application ServiceAccount bound to cluster-admin or wildcard rules).  ``k8s_schema``
validates against the JSON schema of a chosen Kubernetes version, offline, through
``kubernetes-validate`` (the optional ``[kubernetes]`` extra).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_deploycheck.targets.container_common import (
    Finding,
    Severity,
    image_problems,
    is_literal_secret,
    looks_secret,
    redact,
    registry_problem,
)
from pytest_deploycheck.targets.yaml_marks import load_yaml_documents, mark_of, plain

CLUSTER_SCOPED = {"Namespace", "Node", "PersistentVolume", "StorageClass", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
                  "PriorityClass", "IngressClass", "ClusterIssuer", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "APIService"}
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}
_SYSTEM_NAMESPACES = re.compile(r"^kube-")


@dataclass(frozen=True)
class K8sObject:
    kind: str
    api_version: str
    namespace: str  # "" for cluster-scoped kinds
    name: str
    doc: Mapping[str, Any]
    source: str  # file name, or where a live object came from

    @property
    def ident(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}" if self.namespace else f"{self.kind}/{self.name}"

    def loc(self, *path: Any) -> str:
        mark = mark_of(self.doc, *path)
        return str(mark) if mark else self.source

    @property
    def labels(self) -> Mapping[str, str]:
        return (self.doc.get("metadata") or {}).get("labels") or {}


def k8s_objects(docs: Iterable[Any], source: str, default_namespace: str = "default") -> list[K8sObject]:
    """Objects from parsed documents: ``kind: List`` (and ``XList``) expanded, empty documents skipped."""
    objects: list[K8sObject] = []
    for doc in docs:
        if not isinstance(doc, Mapping) or "kind" not in doc:
            continue
        kind = str(doc["kind"])
        if kind.endswith("List") and isinstance(doc.get("items"), list):
            objects.extend(k8s_objects(doc["items"], source, default_namespace))
            continue
        meta = doc.get("metadata") or {}
        namespace = "" if kind in CLUSTER_SCOPED else str(meta.get("namespace") or default_namespace)
        objects.append(K8sObject(kind, str(doc.get("apiVersion", "")), namespace, str(meta.get("name") or meta.get("generateName") or "?"), doc, source))
    return objects


def load_manifests(paths: Iterable[str | Path], default_namespace: str = "default", names: Mapping[Path, str] | None = None) -> list[K8sObject]:
    """Every object in manifest files (YAML or JSON; ``helm template`` / ``kustomize build`` output alike).
    ``names`` gives the name a file goes by in locations (relative to the target's folder)."""
    objects: list[K8sObject] = []
    for path in paths:
        shown = (names or {}).get(Path(path), str(path))
        text = Path(path).read_text(encoding="utf-8")
        objects.extend(k8s_objects(load_yaml_documents(text, shown), shown, default_namespace))
    return objects


@dataclass(frozen=True)
class PodSpecRef:
    workload: K8sObject
    spec: Mapping[str, Any]
    path: tuple[Any, ...]  # where the pod spec sits in the document
    labels: Mapping[str, str]


def pod_spec(obj: K8sObject) -> PodSpecRef | None:
    """The pod template of a workload (``spec.template.spec``; CronJob one level deeper; Pod itself)."""
    doc = obj.doc
    if obj.kind == "Pod":
        return PodSpecRef(obj, doc.get("spec") or {}, ("spec",), obj.labels)
    if obj.kind == "CronJob":
        template = (((doc.get("spec") or {}).get("jobTemplate") or {}).get("spec") or {}).get("template") or {}
        return PodSpecRef(obj, template.get("spec") or {}, ("spec", "jobTemplate", "spec", "template", "spec"), (template.get("metadata") or {}).get("labels") or {})
    if obj.kind in WORKLOAD_KINDS:
        template = (doc.get("spec") or {}).get("template") or {}
        return PodSpecRef(obj, template.get("spec") or {}, ("spec", "template", "spec"), (template.get("metadata") or {}).get("labels") or {})
    return None


def _containers(ref: PodSpecRef, *, init: bool = True) -> Iterator[tuple[str, int, Mapping[str, Any]]]:
    for key in ("initContainers", "containers") if init else ("containers",):
        for index, container in enumerate(ref.spec.get(key) or []):
            yield key, index, container


def _workloads(objects: Iterable[K8sObject]) -> Iterator[PodSpecRef]:
    for obj in objects:
        ref = pod_spec(obj)
        if ref is not None:
            yield ref


def _cfinding(ref: PodSpecRef, key: str, index: int, sub: tuple[Any, ...], message: str, rule: str, severity: Severity) -> Finding:
    container = (ref.spec.get(key) or [])[index]
    return Finding(ref.workload.ident, ref.workload.loc(*ref.path, key, index, *sub), f"container {container.get('name', index)}: {message}", rule, severity)


def k8s_resources(objects: Sequence[K8sObject], *, require_cpu_limit: bool = True) -> list[Finding]:
    """Every container requests CPU and memory and has limits (CPU limit optional by policy)."""
    findings: list[Finding] = []
    for ref in _workloads(objects):
        for key, index, container in _containers(ref):
            resources = container.get("resources") or {}
            wanted = [("requests", "cpu"), ("requests", "memory"), ("limits", "memory")] + ([("limits", "cpu")] if require_cpu_limit else [])
            missing = [f"{a}.{b}" for a, b in wanted if not (resources.get(a) or {}).get(b)]
            if missing:
                findings.append(_cfinding(ref, key, index, ("resources",), f"no {', '.join(missing)}", "k8s-resources", "medium"))
    return findings


def k8s_probes(objects: Sequence[K8sObject]) -> list[Finding]:
    """Long-running containers have liveness and readiness probes (not Jobs and CronJobs, which end)."""
    findings: list[Finding] = []
    for ref in _workloads(objects):
        if ref.workload.kind in {"Job", "CronJob"}:
            continue
        for key, index, container in _containers(ref, init=False):
            missing = [p for p in ("livenessProbe", "readinessProbe") if not container.get(p)]
            if missing:
                findings.append(_cfinding(ref, key, index, (), f"no {' and no '.join(missing)}", "k8s-probes", "medium"))
    return findings


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A LabelSelector (matchLabels and matchExpressions) against labels; an empty selector matches all."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != str(value):
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), [str(v) for v in expr.get("values") or []]
        if (op == "In" and labels.get(key) not in values) or (op == "NotIn" and labels.get(key) in values):
            return False
        if (op == "Exists" and key not in labels) or (op == "DoesNotExist" and key in labels):
            return False
    return True


def _hpas_for(objects: Sequence[K8sObject], obj: K8sObject) -> list[K8sObject]:
    return [h for h in objects if h.kind == "HorizontalPodAutoscaler" and h.namespace == obj.namespace
            and ((h.doc.get("spec") or {}).get("scaleTargetRef") or {}).get("kind") == obj.kind
            and ((h.doc.get("spec") or {}).get("scaleTargetRef") or {}).get("name") == obj.name]


def k8s_availability(objects: Sequence[K8sObject]) -> list[Finding]:
    """Deployments and StatefulSets run more than one replica, and a PodDisruptionBudget selects their pods."""
    findings: list[Finding] = []
    for ref in _workloads(objects):
        obj = ref.workload
        if obj.kind not in {"Deployment", "StatefulSet"}:
            continue
        spec = obj.doc.get("spec") or {}
        replicas = _replica_floor(objects, obj)
        if replicas <= 1:
            findings.append(Finding(obj.ident, obj.loc("spec", "replicas") if "replicas" in spec else obj.loc(), f"replicas is {replicas}: a single pod means downtime on every node drain or crash", "k8s-replicas", "high"))
        pdbs = [p for p in objects if p.kind == "PodDisruptionBudget" and p.namespace == obj.namespace
                and selector_matches((p.doc.get("spec") or {}).get("selector"), ref.labels)]
        if not pdbs:
            findings.append(Finding(obj.ident, obj.loc(), "no PodDisruptionBudget selects its pods: a node drain may evict them all at once", "k8s-pdb", "medium"))
    return findings


def _count(value: Any) -> int:
    """A replica count as written; one that is not a number (``replicas: two``, which k8s-19 reports) counts as 1."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 1


#: Topology keys that put replicas on different machines (or zones, which are different machines too).
SPREAD_KEYS = frozenset({"kubernetes.io/hostname", "topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone",
                         "topology.kubernetes.io/region"})


def _replica_floor(objects: Sequence[K8sObject], obj: K8sObject) -> int:
    """The fewest replicas a Deployment or StatefulSet runs: with an autoscaler, its minReplicas,
    whatever spec.replicas says."""
    hpas = _hpas_for(objects, obj)
    spec = obj.doc.get("spec") or {}
    return min(_count(h.doc["spec"].get("minReplicas", 1)) for h in hpas) if hpas else _count(spec.get("replicas", 1))


def _spreads(ref: PodSpecRef) -> list[str]:
    """How a pod template keeps its replicas apart: anti-affinity terms and spread constraints
    that select its own pods over a topology key of machines or zones (``kubernetes.io/hostname``)."""
    found = []
    anti = ((ref.spec.get("affinity") or {}).get("podAntiAffinity") or {})
    for term in anti.get("requiredDuringSchedulingIgnoredDuringExecution") or []:
        if term.get("topologyKey") in SPREAD_KEYS and selector_matches(term.get("labelSelector"), ref.labels):
            found.append(f"podAntiAffinity required on {term['topologyKey']}")
    for weighted in anti.get("preferredDuringSchedulingIgnoredDuringExecution") or []:
        term = (weighted or {}).get("podAffinityTerm") or {}
        if term.get("topologyKey") in SPREAD_KEYS and selector_matches(term.get("labelSelector"), ref.labels):
            found.append(f"podAntiAffinity preferred on {term['topologyKey']}")
    for constraint in ref.spec.get("topologySpreadConstraints") or []:
        if constraint.get("topologyKey") in SPREAD_KEYS and selector_matches(constraint.get("labelSelector"), ref.labels):
            found.append(f"topologySpreadConstraints on {constraint['topologyKey']} ({constraint.get('whenUnsatisfiable', 'DoNotSchedule')})")
    return found


def k8s_spread(objects: Sequence[K8sObject]) -> tuple[list[Finding], list[str]]:
    """Deployments and StatefulSets of two or more replicas keep them on different nodes or zones;
    also the workloads judged (those with more than one replica)."""
    findings: list[Finding] = []
    judged: list[str] = []
    for ref in _workloads(objects):
        obj = ref.workload
        if obj.kind not in {"Deployment", "StatefulSet"}:
            continue
        replicas = _replica_floor(objects, obj)
        if replicas <= 1:
            continue  # one replica has nothing to spread (k8s-03 reports it)
        judged.append(obj.ident)
        if not _spreads(ref):
            findings.append(Finding(obj.ident, obj.loc(*ref.path), f"{replicas} replicas with no podAntiAffinity or topologySpreadConstraints "
                                    "selecting them over kubernetes.io/hostname or a zone: the scheduler may put every replica on one node",
                                    "k8s-spread", "medium"))
    return findings, judged


def k8s_hpa(objects: Sequence[K8sObject]) -> list[Finding]:
    """Info: a HorizontalPodAutoscaler targets each Deployment."""
    return [Finding(o.ident, o.loc(), "no HorizontalPodAutoscaler targets it", "k8s-hpa", "info")
            for o in objects if o.kind == "Deployment" and not _hpas_for(objects, o)]


def _effective(ref: PodSpecRef, container: Mapping[str, Any], key: str) -> Any:
    """A security setting as the kubelet applies it: the container's own, else the pod's."""
    own = (container.get("securityContext") or {}).get(key)
    return own if own is not None else (ref.spec.get("securityContext") or {}).get(key)


def k8s_security_context(objects: Sequence[K8sObject]) -> list[Finding]:
    """Pod Security Standards: baseline (no privileged, host namespaces, hostPath) and restricted
    (runAsNonRoot, allowPrivilegeEscalation false, capabilities drop ALL, seccomp RuntimeDefault) plus
    readOnlyRootFilesystem."""
    findings: list[Finding] = []
    for ref in _workloads(objects):
        obj = ref.workload
        for host in ("hostNetwork", "hostPID", "hostIPC"):
            if ref.spec.get(host) is True:
                findings.append(Finding(obj.ident, obj.loc(*ref.path, host), f"{host}: true shares the node's namespace (Pod Security baseline)", "k8s-host-namespace", "high"))
        for index, volume in enumerate(ref.spec.get("volumes") or []):
            if "hostPath" in volume:
                path = (volume.get("hostPath") or {}).get("path")
                severity: Severity = "critical" if str(path).endswith("docker.sock") or str(path).endswith("containerd.sock") else "high"
                findings.append(Finding(obj.ident, obj.loc(*ref.path, "volumes", index), f"hostPath volume {path} (Pod Security baseline)", "k8s-hostpath", severity))
        for key, index, container in _containers(ref):
            ctx = container.get("securityContext") or {}
            if ctx.get("privileged") is True:
                findings.append(_cfinding(ref, key, index, ("securityContext", "privileged"), "privileged: true (Pod Security baseline)", "k8s-privileged", "critical"))
            if _effective(ref, container, "runAsNonRoot") is not True or _effective(ref, container, "runAsUser") == 0:
                findings.append(_cfinding(ref, key, index, ("securityContext",), "may run as root: set runAsNonRoot: true (and a non-zero runAsUser)", "k8s-non-root", "high"))
            if ctx.get("allowPrivilegeEscalation") is not False:
                findings.append(_cfinding(ref, key, index, ("securityContext",), "allowPrivilegeEscalation is not false", "k8s-privilege-escalation", "medium"))
            if ctx.get("readOnlyRootFilesystem") is not True:
                findings.append(_cfinding(ref, key, index, ("securityContext",), "readOnlyRootFilesystem is not true", "k8s-readonly-rootfs", "low"))
            drop = [str(c).upper() for c in (ctx.get("capabilities") or {}).get("drop") or []]
            if "ALL" not in drop:
                findings.append(_cfinding(ref, key, index, ("securityContext",), "capabilities are not dropped (drop: [ALL])", "k8s-capabilities", "medium"))
            seccomp = _effective(ref, container, "seccompProfile") or {}
            if seccomp.get("type") not in {"RuntimeDefault", "Localhost"}:
                findings.append(_cfinding(ref, key, index, ("securityContext",), "no seccompProfile RuntimeDefault (Pod Security restricted)", "k8s-seccomp", "low"))
    return findings


def k8s_images(objects: Sequence[K8sObject]) -> list[Finding]:
    """Container images are pinned: a tag that is not ``latest``; a digest is better (info)."""
    findings: list[Finding] = []
    for ref in _workloads(objects):
        for key, index, container in _containers(ref):
            for rule, severity, message in image_problems(str(container.get("image") or "")):
                findings.append(_cfinding(ref, key, index, ("image",), message, rule, severity))
    return findings


def k8s_registries(objects: Sequence[K8sObject], allowed: Sequence[str]) -> list[Finding]:
    """Every container image (init containers too) comes from one of ``allowed``."""
    findings: list[Finding] = []
    for ref in _workloads(objects):
        for key, index, container in _containers(ref):
            problem = registry_problem(str(container.get("image") or ""), allowed)
            if problem:
                findings.append(_cfinding(ref, key, index, ("image",), problem, "k8s-registry", "medium"))
    return findings


def k8s_env_secrets(objects: Sequence[K8sObject]) -> list[Finding]:
    """Credentials come from Secrets (``valueFrom.secretKeyRef``), not literal ``env`` values or ConfigMaps."""
    findings: list[Finding] = []
    for ref in _workloads(objects):
        for key, index, container in _containers(ref):
            for env_index, env in enumerate(container.get("env") or []):
                name = str(env.get("name", ""))
                if "value" in env and looks_secret(name) and is_literal_secret(env.get("value")):
                    findings.append(_cfinding(ref, key, index, ("env", env_index), f"env {name} is a literal secret ({redact(env['value'])}): use valueFrom.secretKeyRef", "k8s-env-secret", "high"))
    for obj in objects:
        if obj.kind == "ConfigMap":
            for name, value in (obj.doc.get("data") or {}).items():
                if looks_secret(str(name)) and is_literal_secret(value):
                    findings.append(Finding(obj.ident, obj.loc("data", name), f"ConfigMap key {name} holds a secret ({redact(value)}): ConfigMaps are not access-controlled as Secrets are", "k8s-env-secret", "high"))
    return findings


def _bindings_for_sa(objects: Sequence[K8sObject], namespace: str, sa: str) -> list[K8sObject]:
    return [b for b in objects if b.kind in {"RoleBinding", "ClusterRoleBinding"} and any(
        s.get("kind") == "ServiceAccount" and s.get("name") == sa and (s.get("namespace") or b.namespace) == namespace for s in b.doc.get("subjects") or [])]


def k8s_service_account_token(objects: Sequence[K8sObject]) -> list[Finding]:
    """Pods do not get an API token they never use: ``automountServiceAccountToken: false`` unless their
    ServiceAccount is bound to a role (a binding is how a manifest says the pod talks to the API)."""
    findings: list[Finding] = []
    for ref in _workloads(objects):
        obj = ref.workload
        sa_name = str(ref.spec.get("serviceAccountName") or "default")
        sa = next((o for o in objects if o.kind == "ServiceAccount" and o.namespace == obj.namespace and o.name == sa_name), None)
        pod_setting = ref.spec.get("automountServiceAccountToken")
        mounted = pod_setting if pod_setting is not None else (sa.doc.get("automountServiceAccountToken", True) if sa is not None else True)
        if mounted is not False and not _bindings_for_sa(objects, obj.namespace, sa_name):
            findings.append(Finding(obj.ident, obj.loc(*ref.path), f"the token of ServiceAccount {sa_name} is mounted but no role is bound to it: set automountServiceAccountToken: false", "k8s-sa-token", "low"))
    return findings


def _default_deny(policy: K8sObject) -> bool:
    spec = policy.doc.get("spec") or {}
    selector = spec.get("podSelector")
    if selector is None or selector.get("matchLabels") or selector.get("matchExpressions"):
        return False
    types = spec.get("policyTypes") or ["Ingress"]  # the API server's default when egress is absent
    return "Ingress" in types and not spec.get("ingress")


def _workload_namespaces(objects: Sequence[K8sObject]) -> dict[str, K8sObject]:
    """Each namespace that runs workloads -> the object a finding about it points at: its
    Namespace when the objects hold it, else its first workload."""
    first: dict[str, K8sObject] = {}
    for ref in _workloads(objects):
        first.setdefault(ref.workload.namespace, ref.workload)
    return {namespace: next((o for o in objects if o.kind == "Namespace" and o.name == namespace), workload)
            for namespace, workload in first.items()}


#: The Pod Security Standards levels, weakest first; ``pod-security.kubernetes.io/enforce`` names one.
PSA_LEVELS = ("privileged", "baseline", "restricted")
PSA_ENFORCE = "pod-security.kubernetes.io/enforce"


def k8s_pod_security(objects: Sequence[K8sObject]) -> tuple[list[Finding], list[str], list[str]]:
    """Each namespace that runs workloads enforces a Pod Security Standard through its Namespace's
    ``pod-security.kubernetes.io/enforce`` label: ``restricted`` passes, ``baseline`` passes with
    advice, ``privileged`` or no label fails.  Returns (findings, namespaces judged, namespaces
    whose Namespace object is not among ``objects`` and so cannot be judged)."""
    findings: list[Finding] = []
    judged: list[str] = []
    unseen: list[str] = []
    for namespace, where in _workload_namespaces(objects).items():
        if where.kind != "Namespace":
            unseen.append(namespace)
            continue
        judged.append(namespace)
        level = str(where.labels.get(PSA_ENFORCE, "")).strip().lower()
        ident = f"Namespace/{namespace}"
        if level == "restricted":
            continue
        if level == "baseline":
            findings.append(Finding(ident, where.loc("metadata", "labels"), f"{PSA_ENFORCE}: baseline stops known privilege escalations; "
                                    "restricted also requires non-root, no privilege escalation and dropped capabilities", "k8s-psa-baseline", "info"))
        elif level in PSA_LEVELS:
            findings.append(Finding(ident, where.loc("metadata", "labels"), f"{PSA_ENFORCE}: {level} admits any pod (privileged, host namespaces, hostPath)",
                                    "k8s-psa", "medium"))
        else:
            observed = f"{PSA_ENFORCE}: {level!r} is no Pod Security level" if level else f"no {PSA_ENFORCE} label"
            findings.append(Finding(ident, where.loc("metadata"), f"{observed}: the admission controller lets any pod in", "k8s-psa", "medium"))
    return findings, judged, unseen


def k8s_network_policy(objects: Sequence[K8sObject]) -> list[Finding]:
    """Each namespace that runs workloads has a default-deny ingress NetworkPolicy (``podSelector: {}``)."""
    findings: list[Finding] = []
    for namespace, where in _workload_namespaces(objects).items():
        if not any(p.kind == "NetworkPolicy" and p.namespace == namespace and _default_deny(p) for p in objects):
            findings.append(Finding(f"Namespace/{namespace}", where.loc(), "no default-deny ingress NetworkPolicy (podSelector: {}, policyTypes: [Ingress]): every pod accepts traffic from everywhere", "k8s-netpol", "high"))
    return findings


def k8s_namespace_limits(objects: Sequence[K8sObject]) -> list[Finding]:
    """Each namespace that runs workloads caps its total use (a ResourceQuota) and gives containers
    default limits (a LimitRange)."""
    findings: list[Finding] = []
    what = {"ResourceQuota": "no ResourceQuota: its workloads together may take the whole cluster",
            "LimitRange": "no LimitRange: a container without limits gets none"}
    for namespace, where in _workload_namespaces(objects).items():
        missing = [kind for kind in what if not any(o.kind == kind and o.namespace == namespace for o in objects)]
        if missing:
            findings.append(Finding(f"Namespace/{namespace}", where.loc(), "; ".join(what[k] for k in missing), "k8s-namespace-limits", "low"))
    return findings


def _host_covered(host: str, tls_hosts: Iterable[str]) -> bool:
    for pattern in tls_hosts:
        if pattern == host or (pattern.startswith("*.") and host.endswith(pattern[1:]) and host.count(".") == pattern.count(".")):
            return True
    return False


def k8s_ingress_tls(objects: Sequence[K8sObject]) -> list[Finding]:
    """Ingresses terminate TLS for every host they route."""
    findings: list[Finding] = []
    for obj in objects:
        if obj.kind != "Ingress":
            continue
        spec = obj.doc.get("spec") or {}
        tls = spec.get("tls") or []
        if not tls:
            findings.append(Finding(obj.ident, obj.loc("spec"), "no tls section: traffic is served over plain HTTP", "k8s-ingress-tls", "high"))
            continue
        tls_hosts = [str(h) for t in tls for h in t.get("hosts") or []]
        for index, rule in enumerate(spec.get("rules") or []):
            host = rule.get("host")
            if host and not _host_covered(str(host), tls_hosts):
                findings.append(Finding(obj.ident, obj.loc("spec", "rules", index), f"host {host} is not in any tls.hosts", "k8s-ingress-tls", "high"))
    return findings


def _role_for(objects: Sequence[K8sObject], binding: K8sObject) -> K8sObject | None:
    ref = binding.doc.get("roleRef") or {}
    kind, name = ref.get("kind"), ref.get("name")
    return next((o for o in objects if o.kind == kind and o.name == name and (kind == "ClusterRole" or o.namespace == binding.namespace)), None)


def k8s_rbac(objects: Sequence[K8sObject], namespaces: Collection[str] | None = None) -> list[Finding]:
    """No application ServiceAccount is bound to ``cluster-admin`` or to a role granting ``*`` verbs or resources.
    Application: not in a ``kube-*`` namespace, and in ``namespaces`` when given (a live cluster's
    bindings name the platform's own controllers too, which are not this release's to judge)."""
    findings: list[Finding] = []
    for binding in objects:
        if binding.kind not in {"RoleBinding", "ClusterRoleBinding"}:
            continue
        app_sas = [f"{s.get('namespace') or binding.namespace}/{s.get('name')}" for s in binding.doc.get("subjects") or []
                   if s.get("kind") == "ServiceAccount" and not _SYSTEM_NAMESPACES.match(str(s.get("namespace") or binding.namespace))
                   and (namespaces is None or str(s.get("namespace") or binding.namespace) in namespaces)]
        if not app_sas:
            continue
        role_ref = binding.doc.get("roleRef") or {}
        if role_ref.get("name") == "cluster-admin":
            findings.append(Finding(binding.ident, binding.loc("roleRef"), f"binds ServiceAccount {', '.join(app_sas)} to cluster-admin", "k8s-rbac", "critical"))
            continue
        role = _role_for(objects, binding)
        if role is None:
            continue
        for index, rule in enumerate(role.doc.get("rules") or []):
            wild = [k for k in ("verbs", "resources") if "*" in (rule.get(k) or [])]
            if wild:
                findings.append(Finding(binding.ident, binding.loc("roleRef"),
                                        f"binds ServiceAccount {', '.join(app_sas)} to {role.ident} whose rule at {role.loc('rules', index)} grants '*' {' and '.join(wild)}", "k8s-rbac", "high"))
    return findings


def k8s_reclaim_policy(objects: Sequence[K8sObject]) -> list[Finding]:
    """Data outlives its claim: PersistentVolumes and StorageClasses reclaim with ``Retain``, not ``Delete``."""
    findings: list[Finding] = []
    for obj in objects:
        if obj.kind == "PersistentVolume":
            policy = (obj.doc.get("spec") or {}).get("persistentVolumeReclaimPolicy", "Retain")  # the API default for a static PV
            if policy != "Retain":
                findings.append(Finding(obj.ident, obj.loc("spec", "persistentVolumeReclaimPolicy"), f"persistentVolumeReclaimPolicy is {policy}: deleting the claim deletes the data", "k8s-reclaim", "medium"))
        elif obj.kind == "StorageClass":
            policy = obj.doc.get("reclaimPolicy", "Delete")  # the API default for a StorageClass
            if policy != "Retain":
                findings.append(Finding(obj.ident, obj.loc("reclaimPolicy") if "reclaimPolicy" in obj.doc else obj.loc(), f"reclaimPolicy is {policy}{' (the default)' if 'reclaimPolicy' not in obj.doc else ''}: volumes it provisions are deleted with their claim", "k8s-reclaim", "medium"))
    return findings


def schema_versions() -> list[str]:
    """The Kubernetes versions whose schemas ``kubernetes-validate`` ships (``ImportError`` without it)."""
    from kubernetes_validate import utils  # Apache-2.0, the optional [kubernetes] extra; imported late so the other rules need only PyYAML

    return list(dict.fromkeys(utils.major_minor(str(v)) for v in utils.all_versions()))


def k8s_schema(objects: Sequence[K8sObject], kubernetes_version: str, *, strict: bool = True) -> tuple[list[Finding], list[str]]:
    """Objects validate against the Kubernetes JSON schema of ``kubernetes_version``, offline (the schemas
    ship inside ``kubernetes-validate``); ``strict`` also refuses unknown fields (a misspelt ``port``).
    Returns the findings and the objects of kinds without a schema there (custom resources such
    as cert-manager's Certificate), which are not validated.  ``ValueError`` for a version it lacks."""
    import kubernetes_validate
    from kubernetes_validate import utils

    kubernetes_version = utils.major_minor(kubernetes_version)  # "1.30.2" reads the 1.30 schemas
    if kubernetes_version not in schema_versions():
        raise ValueError(f"no schemas for Kubernetes {kubernetes_version} in kubernetes-validate {kubernetes_validate.__version__} "
                         f"(it has {', '.join(schema_versions())})")
    findings: list[Finding] = []
    skipped: list[str] = []
    for obj in objects:
        try:
            kubernetes_validate.validate(plain(obj.doc), kubernetes_version, strict=strict)
        except kubernetes_validate.SchemaNotFoundError:
            skipped.append(f"{obj.ident} ({obj.api_version})")
        except kubernetes_validate.ValidationError as exc:
            path = tuple(exc.absolute_path)
            where = ".".join(str(p) for p in path) or "(top)"
            findings.append(Finding(obj.ident, obj.loc(*path), f"schema {kubernetes_version}: {where}: {exc.message}", "k8s-schema", "high"))
    return findings, skipped


def k8s_findings(objects: Sequence[K8sObject]) -> list[Finding]:
    """Every static Kubernetes rule (schema validation is separate: it needs a chosen version)."""
    rules: list[Callable[[Sequence[K8sObject]], list[Finding]]] = [
        k8s_resources, k8s_probes, k8s_availability, k8s_hpa, k8s_security_context, k8s_images, k8s_env_secrets,
        k8s_service_account_token, k8s_network_policy, k8s_ingress_tls, k8s_rbac, k8s_reclaim_policy,
    ]
    return [f for rule in rules for f in rule(objects)]

