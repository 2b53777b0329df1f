"""Kubernetes: manifests before the release and the live cluster after it.

Every check takes ``k8s``: a ``kubernetes`` target (a live cluster, read through the team's
kubeconfig and context, in its ``namespace``/``namespaces``) or a ``files`` target that names
``manifests`` (plain YAML or JSON, multi-document, ``helm template`` or ``kustomize build``
output).  The rules on workloads, security context, images, secrets, RBAC, network policy,
ingress and volumes are the same for both, so one check id answers one rule wherever it is
asked; on a cluster a Deployment is judged by its pod template, not again in each pod.  The
last checks (rollouts, pods, nodes, claims, certificates) need a running cluster and are not
applicable to manifests; schema validation is for manifests only (the API server has already
validated what it stores).

Rules mirror the Kubernetes Pod Security Standards, kube-score, Polaris and the Kubernetes RBAC
good practices.  Nothing is changed on the cluster: GET requests only.  A finding names the
object as ``kubectl`` does (``Deployment/shop/web``) and, for manifests, the ``file:line``.
"""

from __future__ import annotations

import pytest

from pytest_deploycheck import TargetError, not_applicable
from pytest_deploycheck.targets.container_common import KUBERNETES_EXTRA, Finding, judge
from pytest_deploycheck.targets.k8s_cluster import GITOPS_NAMESPACES, WORKLOADS
from pytest_deploycheck.targets.k8s_live import live_certificates, live_gitops, live_nodes, live_pods, live_pvcs, live_rollouts
from pytest_deploycheck.targets.k8s_manifests import (
    PSA_ENFORCE,
    K8sObject,
    k8s_availability,
    k8s_env_secrets,
    k8s_hpa,
    k8s_images,
    k8s_ingress_tls,
    k8s_namespace_limits,
    k8s_network_policy,
    k8s_pod_security,
    k8s_probes,
    k8s_rbac,
    k8s_reclaim_policy,
    k8s_registries,
    k8s_resources,
    k8s_schema,
    k8s_security_context,
    k8s_service_account_token,
    k8s_spread,
    pod_spec,
    schema_versions,
)

pytestmark = pytest.mark.section("kubernetes", "Kubernetes")


def _where(k8s) -> str:
    return f"namespaces {', '.join(k8s.namespaces)}" if k8s.live else "the manifests"


def _workloads(k8s, *also: str) -> list[K8sObject]:
    """The judged objects of the workload kinds (and ``also``); n/a when there is no workload."""
    objects = k8s.judged(*WORKLOADS, *also)
    if not any(pod_spec(o) is not None for o in objects):
        not_applicable(f"{k8s.name}: no workloads (Deployment, StatefulSet, DaemonSet, Job, CronJob, Pod) in {_where(k8s)}")
    return objects


def _judge_workloads(k8s, evidence, objects: list[K8sObject], findings: list[Finding], expected: str, advice: tuple[str, ...] = ()) -> None:
    judge(k8s, evidence, findings, expected, examined=[o.ident for o in objects if pod_spec(o) is not None], advice=advice)


def _security(k8s, evidence, rules: set[str], expected: str) -> None:
    objects = _workloads(k8s)
    _judge_workloads(k8s, evidence, objects, [f for f in k8s_security_context(objects) if f.rule in rules], expected)


@pytest.mark.check("k8s-01", "Containers request and limit CPU and memory", severity="medium",
                   refs=("kube-score container-resources", "Polaris cpuRequestsMissing / memoryLimitsMissing"),
                   answers=("kubernetes resource requests and limits", "request|requests limit|limits container|containers|pod|pods|every|all", "kubernetes|pod|pods limit|limits|requests", "pod memory limits", "pod cpu requests", "container resources set",
                            "resource_limit|resource_limits|resource_requests docker? kubernetes? container? pod?",
                            "container|pod|docker memory|cpu limit|request|quota",
                            "container|pod resource_limit|resource_limits|resource_requests",
                            "cpu memory request|limit set|defined|configured|specified?"),
                   # "CPU, memory within limits on all hosts" is usage (os-10, os-11), not a container's limit
                   answers_unless=("php|opcache", "within|usage|used|utilization|utilisation|host|hosts",))
def test_resources(k8s, evidence):
    """Without requests the scheduler packs pods blind and evicts them first under pressure;
    without limits one leaking container takes the node's memory.  Passes when every container
    (init containers too) sets ``requests.cpu``, ``requests.memory``, ``limits.cpu`` and ``limits.memory``."""
    objects = _workloads(k8s)
    _judge_workloads(k8s, evidence, objects, k8s_resources(objects), "requests and limits for cpu and memory on every container")


@pytest.mark.check("k8s-02", "Liveness and readiness probes", severity="medium",
                   refs=("kube-score pod-probes", "Polaris livenessProbeMissing / readinessProbeMissing"),
                   answers=("kubernetes liveness and readiness probes", "livenessprobe in deployment", "kubernetes health probes",
                            "pod probes configured",
                            "kubernetes|pod|container health_check|healthcheck|liveness|readiness|probe",
                            "liveness|readiness probe kubernetes|pod|deployment|container",
                            "liveness readiness probe"),
                   answers_unless=("dockerfile has|declares|contains|includes|defines healthcheck|health_check",))
def test_probes(k8s, evidence):
    """Without a readiness probe a Service sends traffic to pods that are still starting; without a
    liveness probe a hung process is never restarted.  Passes when every long-running container
    (not Jobs and CronJobs, which end) has both."""
    objects = _workloads(k8s)
    _judge_workloads(k8s, evidence, objects, k8s_probes(objects), "livenessProbe and readinessProbe on every long-running container")


@pytest.mark.check("k8s-03", "Deployments run more than one replica", severity="high",
                   refs=("kube-score deployment-replicas", "Polaris deploymentMissingReplicas"),
                   answers=("run|runs|deployed|running? two|multiple|several|2|3 node|nodes|instance|instances", "multiple replicas", "high availability deployment", "no single pod", "replica count greater than one",
                            "replica|replicas least|minimum|min|more|multiple|two|2|several",
                            "deployment|deployments|statefulset|statefulsets replica|replicas"))
def test_replicas(k8s, evidence):
    """One replica means downtime on every node drain, rollout hiccup or crash.  Passes when
    every Deployment and StatefulSet runs at least two replicas (with an autoscaler, its
    ``minReplicas``)."""
    objects = _workloads(k8s, "HorizontalPodAutoscaler", "PodDisruptionBudget")
    findings = [f for f in k8s_availability(objects) if f.rule == "k8s-replicas"]
    judge(k8s, evidence, findings, "replicas (or the HPA's minReplicas) of at least 2",
          examined=[o.ident for o in objects if o.kind in {"Deployment", "StatefulSet"}])


@pytest.mark.check("k8s-04", "PodDisruptionBudget for each Deployment", severity="medium",
                   refs=("kube-score deployment-has-poddisruptionbudget", "Polaris missingPodDisruptionBudget"),
                   answers=("pdb prevent|prevents|voluntary|eviction|evict|drain|drains", "pod disruption budget", "pdb configured", "safe node drains", "pdb|pod_disruption_budget",
                            "pdb|pod_disruption_budget allow|allows|max_unavailable|min_available|unavailable|available"))
def test_pdb(k8s, evidence):
    """A node drain (an upgrade, an autoscaler scale-down) may evict every pod of a Deployment at
    once unless a PodDisruptionBudget holds some back.  Passes when a PodDisruptionBudget in the
    same namespace selects the pods of every Deployment and StatefulSet."""
    objects = _workloads(k8s, "HorizontalPodAutoscaler", "PodDisruptionBudget")
    findings = [f for f in k8s_availability(objects) if f.rule == "k8s-pdb"]
    judge(k8s, evidence, findings, "a PodDisruptionBudget selecting each Deployment's pods",
          examined=[o.ident for o in objects if o.kind in {"Deployment", "StatefulSet"}])


@pytest.mark.check("k8s-05", "HorizontalPodAutoscaler for each Deployment", severity="info",
                   refs=("Kubernetes docs: Horizontal Pod Autoscaling",),
                   answers=("horizontal pod autoscaler", "horizontalpodautoscaler", "hpa", "hpa cpu|memory|target|utilization|configur|set", "hpa configured", "autoscaling enabled", "pods scale with load",
                            "autoscaling|hpa|horizontal pod", "pod|replica autoscal|autoscaling|scale", "horizontal autoscal|autoscaling|autoscaler"),
                   answers_unless=("cluster autoscaler|autoscaling", "node|nodes autoscal|autoscaling|autoscaler|pool", "karpenter"))  # nodes, not pods
def test_hpa(k8s, evidence):
    """An autoscaler adds pods when load rises and keeps a floor of replicas.  Information: passes
    when a HorizontalPodAutoscaler targets every Deployment."""
    objects = _workloads(k8s, "HorizontalPodAutoscaler")
    judge(k8s, evidence, k8s_hpa(objects), "a HorizontalPodAutoscaler targeting each Deployment",
          examined=[o.ident for o in objects if o.kind == "Deployment"])


@pytest.mark.check("k8s-06", "Containers run as non-root", severity="high",
                   refs=("Pod Security Standards restricted: runAsNonRoot", "kube-score container-security-context-user-group-id"),
                   answers=("container|containers|pod|pods run|runs non_root|nonroot", "pods run as non-root", "runasnonroot", "containers not running as root in kubernetes",
                            "docker|dockerfile|container|image|pod non_root|unprivileged|as_root|user|root",
                            "run_as_non_root|runasnonroot|security context"))
def test_run_as_non_root(k8s, evidence):
    """An image can start as root whatever its Dockerfile intends; ``runAsNonRoot: true`` makes
    the kubelet refuse to start it.  Passes when every container runs with ``runAsNonRoot: true``
    (its own or the pod's) and no ``runAsUser: 0``."""
    _security(k8s, evidence, {"k8s-non-root"}, "runAsNonRoot: true (and a non-zero runAsUser) for every container")


@pytest.mark.check("k8s-07", "Privilege escalation disallowed", severity="medium",
                   refs=("Pod Security Standards restricted: allowPrivilegeEscalation", "Polaris privilegeEscalationAllowed"),
                   answers=("allowprivilegeescalation false", "no privilege escalation", "setuid binaries blocked"))
def test_no_privilege_escalation(k8s, evidence):
    """Unless ``allowPrivilegeEscalation`` is false, a setuid binary in the image can gain
    privileges the container was not given.  Passes when every container sets it to false."""
    _security(k8s, evidence, {"k8s-privilege-escalation"}, "allowPrivilegeEscalation: false on every container")


@pytest.mark.check("k8s-08", "Read-only root filesystem", severity="low",
                   refs=("kube-score container-security-context-readonlyrootfilesystem", "Polaris notReadOnlyRootFilesystem"),
                   answers=("read_only|readonly filesystem|file_system|rootfs", "read-only root filesystem", "readonlyrootfilesystem", "immutable container filesystem"))
def test_read_only_root(k8s, evidence):
    """A writable root filesystem lets an intruder drop tools and alter the application in place.
    Passes when every container sets ``readOnlyRootFilesystem: true`` (write to emptyDir or
    volume mounts instead)."""
    _security(k8s, evidence, {"k8s-readonly-rootfs"}, "readOnlyRootFilesystem: true on every container")


@pytest.mark.check("k8s-09", "Linux capabilities dropped", severity="medium",
                   refs=("Pod Security Standards restricted: capabilities", "Polaris dangerousCapabilities"),
                   answers=("capabilities dropped", "drop all capabilities", "minimal linux capabilities"))
def test_capabilities_dropped(k8s, evidence):
    """The default capability set includes NET_RAW, CHOWN, SETUID and more than an application
    needs.  Passes when every container drops ``ALL`` (adding back only what it needs)."""
    _security(k8s, evidence, {"k8s-capabilities"}, "capabilities.drop: [ALL] on every container")


@pytest.mark.check("k8s-10", "No privileged pods, host namespaces or hostPath", severity="critical",
                   refs=("Pod Security Standards baseline: privileged, host namespaces, hostPath volumes", "Polaris hostNetworkSet / hostPIDSet / privilegeEscalationAllowed"),
                   answers=("no privileged pods", "privileged container|containers|pod|pods no|none|not|disallowed|forbidden", "no hostnetwork", "no hostpid", "no hostpath volumes", "pod security standards baseline",
                            "hostnetwork|hostpid|hostipc|hostpath used|use|not|no|disabled?",
                            "host network|pid|ipc|namespace|namespaces pod? not|no"))
def test_no_host_access(k8s, evidence):
    """A privileged container, a pod in the node's network, PID or IPC namespace, or a hostPath
    volume (the container runtime's socket above all) reaches past the container onto the node.
    Passes when no workload uses any of them."""
    _security(k8s, evidence, {"k8s-privileged", "k8s-host-namespace", "k8s-hostpath"},
              "no privileged: true, hostNetwork, hostPID, hostIPC or hostPath volume")


@pytest.mark.check("k8s-11", "Seccomp profile RuntimeDefault", severity="low",
                   refs=("Pod Security Standards restricted: seccompProfile",),
                   answers=("seccomp profile", "seccomp runtimedefault", "syscall filtering"))
def test_seccomp(k8s, evidence):
    """Without a seccomp profile a container may make every system call, kernel exploits
    included.  Passes when every container runs with ``seccompProfile.type: RuntimeDefault`` (or
    ``Localhost``), its own or the pod's."""
    _security(k8s, evidence, {"k8s-seccomp"}, "seccompProfile RuntimeDefault for every container")


@pytest.mark.check("k8s-12", "Container images pinned", severity="medium",
                   refs=("kube-score container-image-tag", "Polaris tagNotSpecified"),
                   answers=("image|images tag|tags immutable|unique|sha|commit|digest", "kubernetes image tags pinned", "no latest images in kubernetes", "image digest pinned",
                            "docker|container image tag|tagged|pin|pinned|digest|version", "image digest|tag pinned|pin",
                            "no latest tag|tags|image|images"))
def test_images_pinned(k8s, evidence):
    """``:latest`` or no tag makes every pod restart a possible upgrade, and two pods of one
    Deployment may run different code.  Passes when every container image names a version tag
    or a digest (a tag alone passes with advice in the evidence)."""
    objects = _workloads(k8s)
    _judge_workloads(k8s, evidence, objects, k8s_images(objects), "every image pinned to a version tag, better a digest",
                     advice=("image-digest",))


@pytest.mark.check("k8s-13", "Secrets come from Secret objects", severity="high",
                   refs=("Kubernetes docs: good practices for Secrets", "kube-score: environment variable secrets"),
                   answers=("secret|secrets not configmap|configmaps literal|literals?", "kubernetes secrets for sensitive data", "no plaintext secrets in manifests", "secretkeyref used",
                            "credentials not in configmaps", "kubernetes|docker|container|compose|pod secret|secrets mount|store|object?",
                            "secret management|manager|vault|store|sealed|external", "vault secret|secrets?"),
                   answers_unless=("image|images|baked|bake|dockerfile", "backup|backups|backed"))  # secrets in images are dock-04's
def test_secrets_from_secret_objects(k8s, evidence):
    """A password written as an ``env`` value or in a ConfigMap sits in the manifests' repository
    and is readable by everyone who may read ConfigMaps or pod specs.  Passes when no
    credential-named variable (``*_PASSWORD``, ``*_TOKEN``, ``API_KEY``...) has a literal
    ``value`` and no ConfigMap key of that kind holds one; use ``valueFrom.secretKeyRef``.
    Values are never shown."""
    objects = _workloads(k8s, "ConfigMap")
    judge(k8s, evidence, k8s_env_secrets(objects), "credentials through valueFrom.secretKeyRef, none as literal env values or ConfigMap data",
          examined=[o.ident for o in objects if pod_spec(o) is not None or o.kind == "ConfigMap"])


@pytest.mark.check("k8s-14", "Service-account token mounted only where used", severity="low",
                   refs=("kube-score pod-automount-service-account-token", "CIS Kubernetes Benchmark 5.1.6"),
                   answers=("service account token not mounted", "automountserviceaccounttoken false", "pods without api access",
                            "serviceaccount|service_account token|tokens automount|automounted|mounted",
                            "automountserviceaccounttoken"))
def test_service_account_token(k8s, evidence):
    """Every pod gets an API token by default; in a compromised pod it is the first thing an
    intruder uses.  Passes when a pod whose ServiceAccount is bound to no role does not mount
    the token (``automountServiceAccountToken: false`` on the pod or the ServiceAccount)."""
    objects = _workloads(k8s, "ServiceAccount", "RoleBinding", "ClusterRoleBinding")
    _judge_workloads(k8s, evidence, objects, k8s_service_account_token(objects), "automountServiceAccountToken: false where no role is bound")


@pytest.mark.check("k8s-15", "Default-deny NetworkPolicy in each namespace", severity="high",
                   refs=("Kubernetes docs: network policies, default deny", "CIS Kubernetes Benchmark 5.3.2"),
                   answers=("network policies", "default deny network policy", "pod network isolation", "namespace network segmentation",
                            "networkpolicy|networkpolicies|network_policy|network_policies restrict|restricted|isolate|limit|deny traffic|ingress|egress?",
                            "network_policy|network_policies|netpol", "pod traffic|network restrict|isolat|deny"))
def test_default_deny(k8s, evidence):
    """Without a NetworkPolicy every pod accepts connections from every other pod in the cluster.
    Passes when each namespace that runs workloads has a default-deny ingress policy
    (``podSelector: {}`` with no ingress rule), to which narrower allow policies add."""
    objects = _workloads(k8s, "NetworkPolicy", *(() if k8s.live else ("Namespace",)))
    judge(k8s, evidence, k8s_network_policy(objects), "a NetworkPolicy with podSelector: {} and policyTypes [Ingress] and no ingress rule",
          examined=sorted({f"Namespace/{o.namespace}" for o in objects if pod_spec(o) is not None}))


@pytest.mark.check("k8s-16", "Ingress terminates TLS for every host", severity="high",
                   refs=("Kubernetes docs: Ingress TLS",),
                   answers=("ingress tls", "ingress for external access with https", "https ingress configured",
                            "ingress tls|https|certificate|cert_manager", "cert_manager|certmanager"))
def test_ingress_tls(k8s, evidence):
    """An Ingress without ``tls`` serves its hosts over plain HTTP.  Passes when every Ingress has
    a ``tls`` section covering each host it routes (a wildcard covers one label)."""
    objects = k8s.judged("Ingress")
    if not objects:
        not_applicable(f"{k8s.name}: no Ingress in {_where(k8s)}")
    judge(k8s, evidence, k8s_ingress_tls(objects), "a tls section covering every host", examined=[o.ident for o in objects])


@pytest.mark.check("k8s-17", "No application account bound to cluster-admin or wildcard rules", severity="critical",
                   refs=("Kubernetes docs: RBAC good practices", "CIS Kubernetes Benchmark 5.1.1 / 5.1.3"),
                   answers=("kubernetes rbac least privilege", "no cluster-admin for applications", "service account permissions minimal",
                            "kubernetes|cluster|service_account rbac|role|permission|binding",
                            "service account token|permission|privilege|automount",
                            "cluster_admin|cluster admin workload|application|service_account|app|binding|bound|run|runs",
                            "workload|application|app cluster admin"))
def test_rbac(k8s, evidence):
    """A ServiceAccount bound to ``cluster-admin`` or to a role with ``*`` verbs or resources turns
    one compromised pod into a compromised cluster.  Passes when no RoleBinding or
    ClusterRoleBinding gives an application ServiceAccount (outside ``kube-*``; on a cluster,
    in the target's namespaces) either."""
    objects = k8s.judged("RoleBinding", "ClusterRoleBinding", "Role", "ClusterRole")
    bindings = [o for o in objects if o.kind in {"RoleBinding", "ClusterRoleBinding"}]
    if not bindings:
        not_applicable(f"{k8s.name}: no RoleBinding or ClusterRoleBinding in {_where(k8s)}")
    findings = k8s_rbac(objects, set(k8s.namespaces) if k8s.live else None)
    judge(k8s, evidence, findings, "only narrow roles bound to application ServiceAccounts", examined=[o.ident for o in bindings])


@pytest.mark.check("k8s-18", "Persistent volumes retain their data", severity="medium",
                   refs=("Kubernetes docs: persistent volumes, reclaiming",),
                   answers=("reclaimpolicy retain", "storageclass retain|reclaimpolicy", "persistent volumes", "reclaim policy retain", "data kept when claim deleted", "storage class retain",
                            "persistent_volume|pvc|named volume|volumes", "volume mount|mounts|claim|persist|named|storage_class",
                            "storage class"))
def test_reclaim_policy(k8s, evidence):
    """With ``Delete`` (the default of dynamically provisioned volumes) deleting a claim, or the
    namespace, deletes the data with it.  Passes when every PersistentVolume (on a cluster: the
    ones claims of the target's namespaces hold) and every StorageClass in the manifests
    reclaims with ``Retain``."""
    objects = k8s.judged("PersistentVolume", *(() if k8s.live else ("StorageClass",)))
    if not objects:
        not_applicable(f"{k8s.name}: no PersistentVolume{'' if k8s.live else ' or StorageClass'} in {_where(k8s)}")
    judge(k8s, evidence, k8s_reclaim_policy(objects), "reclaim policy Retain", examined=[o.ident for o in objects])


@pytest.mark.check("k8s-19", "Manifests valid for the target Kubernetes version", severity="high",
                   refs=("kubernetes-validate (the Kubernetes OpenAPI schemas)", "kubeconform"),
                   answers=("kubernetes manifests validated", "manifest schema validation", "helm chart renders valid manifests", "no deprecated kubernetes apis",
                            # an API version of the cluster's, not the application's own API (a Sunset header)
                            "^kubernetes|k8s|helm|manifest|manifests|cluster|kubectl|chart api|apis version|versions deprecated|removed",
                            "^kubernetes|k8s|helm|manifest|manifests|cluster|kubectl|chart deprecated|removed api|apis",
                            "deprecated|removed kubernetes|k8s api|apis|version|versions"))
def test_schema(k8s, evidence):
    """A misspelt field is silently dropped by ``kubectl apply`` (a probe that never runs), and an
    API version removed in the target release fails the deployment.  Passes when every object
    validates strictly (unknown fields refused) against the schema of ``kubernetes_version``
    (default: the newest known); custom resources without a schema are listed in the evidence.
    On a live cluster not applicable: the API server validated what it stores."""
    if k8s.live:
        not_applicable(f"{k8s.name}: a live cluster's objects were validated by its API server; name the manifests in a files target")
    objects = k8s.objects()
    try:
        versions = schema_versions()
    except ImportError:
        raise TargetError(f"{k8s.label}: kubernetes-validate is not installed: {KUBERNETES_EXTRA}") from None
    version = str(k8s.setting("kubernetes_version") or versions[-1])
    try:
        findings, skipped = k8s_schema(objects, version)
    except ValueError as exc:
        raise TargetError(f"{k8s.label}: files.{k8s.name}.kubernetes_version: {exc}") from None
    evidence.record(kubernetes_version=version, not_validated=skipped)
    judge(k8s, evidence, findings, f"every object valid against the Kubernetes {version} schema", examined=[o.ident for o in objects])


@pytest.mark.check("k8s-20", "Deployments and StatefulSets rolled out and available", severity="critical",
                   refs=("kubectl rollout status",),
                   answers=("deployment rolled out", "all pods available", "rollout complete", "kubernetes deployment healthy",
                            "rollout|rolling update|deploy|restart status|strategy|complet|healthy?",
                            "zero downtime deploy|deployment|release", "deployment strategy rolling|blue_green|canary",
                            "replica|replicas ready|available|running"))
def test_rollouts(k8s, evidence):
    """A release is live only when the controller has seen the new spec and every replica is
    updated and available.  Passes when each Deployment and StatefulSet in the namespaces has
    observed its generation, updated and available replicas equal to ``spec.replicas``, and no
    exceeded progress deadline."""
    k8s.require_live("rollout status")
    objects = k8s.objects("Deployment", "StatefulSet")
    if not objects:
        not_applicable(f"{k8s.name}: no Deployment or StatefulSet in {_where(k8s)}")
    judge(k8s, evidence, live_rollouts(objects), "every Deployment and StatefulSet fully rolled out and available", examined=[o.ident for o in objects])


@pytest.mark.check("k8s-21", "No pod crash-looping, restarting often or OOM-killed", severity="high",
                   refs=("kubectl get pods: CrashLoopBackOff, RESTARTS", "Kubernetes: container lastState.terminated.reason OOMKilled"),
                   answers=("no crashloopbackoff", "pods running without restarts", "pod restart count", "no failing pods",
                            "pod|container oom kill|killed|kills|killer",
                            "crashloopbackoff|imagepullbackoff|errimagepull pod|pods? no|none?",
                            "pod|pods crash|crashing|restart|restarting|loop"))
def test_pods(k8s, evidence):
    """A pod in CrashLoopBackOff, ImagePullBackOff or a configuration error serves nothing,
    frequent restarts mean it fails under load, and a container the OOM killer ended last time
    has a memory limit below what it uses: the next peak ends it again.  Passes when no
    container of a pod in the namespaces is waiting in such a state, has restarted more than
    ``pod_restarts_max`` times, or was last terminated OOMKilled."""
    k8s.require_live("pod status")
    objects = k8s.objects("Pod")
    if not objects:
        not_applicable(f"{k8s.name}: no pods in {_where(k8s)}")
    threshold = int(k8s.threshold("pod_restarts_max"))
    judge(k8s, evidence, live_pods(objects, restart_threshold=threshold),
          f"no container in CrashLoopBackOff or a pull/config error, none restarted more than {threshold} times, none OOM-killed",
          examined=[o.ident for o in objects])


@pytest.mark.check("k8s-22", "Nodes Ready", severity="high",
                   refs=("kubectl get nodes",),
                   answers=("cluster nodes ready", "kubernetes nodes healthy", "no node pressure",
                            "node|nodes ready|notready|healthy|schedulable",
                            "notready|schedulingdisabled node|nodes? none|no"))
def test_nodes(k8s, evidence):
    """A NotReady node, or one under memory, disk or PID pressure, evicts or cannot run pods.
    Passes when every node is Ready and reports no pressure (needs ``list nodes``)."""
    k8s.require_live("node status")
    objects = k8s.objects("Node")
    if not objects:
        raise TargetError(f"{k8s.label}: the cluster lists no nodes")
    judge(k8s, evidence, live_nodes(objects), "every node Ready, without memory, disk or PID pressure", examined=[o.ident for o in objects])


@pytest.mark.check("k8s-23", "PersistentVolumeClaims bound", severity="high",
                   refs=("kubectl get pvc",),
                   answers=("persistent volume claims bound", "pvc bound", "storage provisioned", "pending|unbound pvc|pvcs|persistent_volume_claim|persistent_volume_claims",
                            "pvc|pvcs|persistent_volume_claim|persistent_volume_claims pending|unbound|bound"))
def test_pvcs(k8s, evidence):
    """A claim that is not Bound keeps the pods that mount it Pending.  Passes when every
    PersistentVolumeClaim in the namespaces is Bound."""
    k8s.require_live("claim status")
    objects = k8s.objects("PersistentVolumeClaim")
    if not objects:
        not_applicable(f"{k8s.name}: no PersistentVolumeClaim in {_where(k8s)}")
    judge(k8s, evidence, live_pvcs(objects), "every PersistentVolumeClaim Bound", examined=[o.ident for o in objects])


@pytest.mark.check("k8s-24", "cert-manager Certificates Ready", severity="high",
                   refs=("cert-manager: Certificate Ready condition",),
                   answers=("cert-manager certificates ready", "certificate issued by cert-manager", "tls certificates provisioned",
                            "certificate|certificates? auto_renew|autorenew|renew|renewal|renewed|automatic cert_manager|certmanager"))
def test_certificates(k8s, evidence):
    """A cert-manager Certificate that is not Ready has failed to issue or renew: the Ingress keeps
    serving an old, a self-signed or no certificate.  Passes when every Certificate in the
    namespaces has condition Ready=True; not applicable where cert-manager is not installed or
    no Certificate exists."""
    k8s.require_live("certificate status")
    objects = k8s.list_kind("Certificate")
    if objects is None:
        not_applicable(f"{k8s.name}: cert-manager is not installed (the cluster serves no cert-manager.io/v1 certificates)")
    if not objects:
        not_applicable(f"{k8s.name}: no cert-manager Certificate in {_where(k8s)}")
    judge(k8s, evidence, live_certificates(objects), "every Certificate Ready=True", examined=[o.ident for o in objects])


@pytest.mark.check("k8s-25", "Namespaces capped by a ResourceQuota and a LimitRange", severity="low",
                   refs=("Kubernetes docs: resource quotas, limit ranges", "CIS Kubernetes Benchmark 5.7 (namespaces as boundaries)"),
                   answers=("resourcequota|resource_quota|resource_quotas|limitrange|limit_range|limit_ranges", "namespace quota|quotas|limits",
                            "namespace resource quota|limit"))
def test_namespace_limits(k8s, evidence):
    """Limits on each container bound one pod; a namespace without a ResourceQuota can still
    take the whole cluster (a runaway scale-up, a job fan-out), and one without a LimitRange gives
    a container that sets no limits none at all.  Passes when each namespace that runs workloads
    has a ResourceQuota and a LimitRange."""
    objects = _workloads(k8s, "ResourceQuota", "LimitRange", *(() if k8s.live else ("Namespace",)))
    judge(k8s, evidence, k8s_namespace_limits(objects), "a ResourceQuota and a LimitRange in each namespace that runs workloads",
          examined=sorted({f"Namespace/{o.namespace}" for o in objects if pod_spec(o) is not None}))


@pytest.mark.check("k8s-26", "Replicas spread across nodes", severity="medium",
                   refs=("kube-score deployment-has-host-podantiaffinity", "Kubernetes docs: pod topology spread constraints",
                         "Kubernetes docs: inter-pod affinity and anti-affinity"),
                   answers=("anti_affinity|antiaffinity|pod_anti_affinity|podantiaffinity", "topology spread|spreading|constraint|constraints",
                            "topologyspreadconstraints|topology_spread_constraints",
                            "replica|replicas|pod|pods spread|spreaded|distributed|across node|nodes|zone|zones|az|availability_zone",
                            "multi_az|multi_zone|zone_redundant pods|replicas|workloads"),
                   answers_unless=("database|postgres|mysql|redis|rds|aurora|elasticache", "node|nodes pool|group|groups"))
def test_replicas_spread(k8s, evidence):
    """Three replicas on one node are one replica when that node goes: a drain, a kernel panic
    or a zone outage takes the whole service down although the Deployment says 3.  The scheduler
    spreads them only when told.  Passes when every Deployment and StatefulSet of two or more
    replicas (with an autoscaler, its ``minReplicas``) has a podAntiAffinity term (required or
    preferred) or a topologySpreadConstraint that selects its own pods over
    ``kubernetes.io/hostname`` or a zone.  n/a when no workload runs more than one replica
    (k8s-03 judges that)."""
    objects = _workloads(k8s, "HorizontalPodAutoscaler")
    findings, judged = k8s_spread(objects)
    if not judged:
        not_applicable(f"{k8s.name}: no Deployment or StatefulSet runs more than one replica in {_where(k8s)} (k8s-03 judges that)")
    judge(k8s, evidence, findings, "podAntiAffinity or topologySpreadConstraints over kubernetes.io/hostname (or a zone) "
          "for every workload of more than one replica", examined=judged)


@pytest.mark.check("k8s-27", "GitOps applications synced and healthy", severity="high",
                   refs=("Argo CD: Application sync and health status", "Flux: Kustomization and HelmRelease Ready condition"),
                   answers=("argo|argocd|argo_cd app|application|applications synced|sync|healthy|health|green",
                            "flux|fluxcd kustomization|kustomizations|helmrelease|helmreleases|reconcil|ready|synced",
                            "gitops synced|sync|in_sync|reconciled|healthy|drift", "flux|fluxcd reconciliation|reconcil succeeded|ready|healthy"),
                   answers_unless=("version",))
def test_gitops(k8s, evidence):
    """With GitOps, what runs is what the controller last applied: an Application left OutOfSync
    still runs the old release, a Degraded one runs a broken one, and a suspended Kustomization
    applies nothing at all.  Reads Argo CD Applications (sync status Synced, health Healthy, no
    failed last sync) and Flux Kustomizations and HelmReleases (Ready=True, not suspended) in the
    namespaces and in ``gitops_namespaces`` (default argocd, flux-system).  Not applicable where
    neither Argo CD nor Flux is installed."""
    k8s.require_live("GitOps status")
    spaces = [*k8s.namespaces, *(k8s.setting("gitops_namespaces") or GITOPS_NAMESPACES)]
    lists = {kind: k8s.list_kind(kind, spaces) for kind in ("Application", "Kustomization", "HelmRelease")}
    if all(found is None for found in lists.values()):
        not_applicable(f"{k8s.name}: neither Argo CD nor Flux is installed (the cluster serves no Applications, Kustomizations or HelmReleases)")
    objects = [o for found in lists.values() for o in found or []]
    if not objects:
        not_applicable(f"{k8s.name}: no Argo CD Application or Flux Kustomization or HelmRelease in {', '.join(dict.fromkeys(spaces))}",
                       unexamined=True)
    judge(k8s, evidence, live_gitops(objects), "every Application Synced and Healthy, every Kustomization and HelmRelease Ready",
          examined=[o.ident for o in objects])


@pytest.mark.check("k8s-28", "Images come from the allowed registries", severity="medium",
                   refs=("NIST SP 800-190 4.1.5: use of untrusted images", "Kyverno policy: restrict image registries",
                         "Kubernetes docs: admission control (ImagePolicyWebhook)"),
                   answers=("image|images|container from|pulled our|private|internal|trusted|approved|allowed registry|registries",
                            "registry|registries allow|allowed|allowlist|approved|private|internal|trusted only?",
                            "trusted|approved|private|internal image|images|registry|registries"),
                   answers_unless=("compose", "scan|scanned|vulnerab", "mirror|cache"))
def test_registries(k8s, evidence):
    """An image pulled from wherever its name points (Docker Hub, by default) runs whatever its
    publisher pushed last, outside the scans and signatures of the team's own registry.  Passes
    when every container and init container image comes from one of ``image_registries`` (a
    registry, or a registry/path prefix such as ``ghcr.io/acme``; ``docker.io/library`` for
    Docker Hub's official images).  Not applicable without ``image_registries``."""
    allowed = k8s.setting("image_registries")
    if not allowed:
        not_applicable(f"{k8s.name}: no image_registries in the inventory (the registries images may come from)", unexamined=True)
    objects = _workloads(k8s)
    _judge_workloads(k8s, evidence, objects, k8s_registries(objects, allowed), f"every image from {', '.join(allowed)}")


@pytest.mark.check("k8s-29", "Namespaces enforce a Pod Security Standard", severity="medium",
                   refs=("Kubernetes docs: Pod Security Standards", "Kubernetes docs: Pod Security Admission",
                         "CIS Kubernetes Benchmark 5.2 (pod security policies)"),
                   answers=("pod_security admission|standard|standards|level|policy|policies|label|labels? enforc|enforced|restricted|baseline?",
                            "psa|pss enforc|enforced|restricted|baseline|label|labels|enabl",
                            "podsecuritypolicy|pod_security_policy|psp", "namespace|namespaces pod_security|psa label|labels|enforc|restricted"),
                   answers_unless=("compose",))
def test_pod_security(k8s, evidence):
    """Pod Security Admission (built in since Kubernetes 1.25, replacing PodSecurityPolicy) refuses
    pods that break a Pod Security Standard, but only in namespaces labelled
    ``pod-security.kubernetes.io/enforce``: without the label any pod is admitted, privileged or
    with the host's filesystem.  Passes when each namespace that runs workloads enforces
    ``restricted``; ``baseline`` passes with advice; ``privileged`` or no label fails.  Read from the
    Namespace objects of the manifests or of the cluster; a namespace whose Namespace the manifests
    do not hold cannot be judged.  A cluster-wide default set in the API server's admission
    configuration is not visible through the API: label the namespaces (or waive)."""
    objects = _workloads(k8s, "Namespace")
    findings, judged, unseen = k8s_pod_security(objects)
    evidence.record(not_judged=[f"Namespace/{n}" for n in unseen])
    if not judged:
        not_applicable(f"{k8s.name}: no Namespace object for {', '.join(unseen)} in {_where(k8s)} (its labels say which standard is enforced)",
                       unexamined=True)
    judge(k8s, evidence, findings, f"{PSA_ENFORCE}: restricted (or at least baseline) on every namespace that runs workloads",
          examined=[f"Namespace/{n}" for n in judged], advice=("k8s-psa-baseline",))
