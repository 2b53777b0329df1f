"""The ``kubernetes`` kind: a live cluster, read through the team's kubeconfig; also a ``files`` target's manifests.

The ``k8s`` fixture hands a check a ``KubernetesTarget``.  For a ``kubernetes`` target it lists
objects from the cluster's API with the official client (``kubernetes``, the optional
``[kubernetes]`` extra), only ever with GET, each list paged (``limit``/``continue``), under the
target's timeout, a size cap and the dead-target rule.  The fixture also takes every ``files``
target that names ``manifests``: then the same ``objects()`` come from those files, so one check
judges a rule on manifests before the release and on the cluster after it.

Authentication is whatever the kubeconfig's user says (a token, a client certificate, an exec
plugin such as ``aws eks get-token``); ``token`` in the inventory (as ``${VAR}``) replaces it.
The reachability pre-flight connects to the API server URL of the chosen context.
"""

from __future__ import annotations

import contextlib
import json
import os
import ssl
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from pytest_deploycheck.outcomes import NotApplicable, TargetError
from pytest_deploycheck.targets.base import Field, Target, TargetHandle, TargetKind
from pytest_deploycheck.targets.container_common import KUBERNETES_EXTRA, display, globbed
from pytest_deploycheck.targets.http import url_address
from pytest_deploycheck.targets.k8s_live import items, owned
from pytest_deploycheck.targets.k8s_manifests import K8sObject, load_manifests
from pytest_deploycheck.targets.reach import Reachability, first_line
from pytest_deploycheck.yamlfile import YamlLoader, YamlNode

#: kind -> (API group, version, plural, namespaced): what ``objects()`` lists on a live cluster.
RESOURCES: dict[str, tuple[str, str, str, bool]] = {
    "Deployment": ("apps", "v1", "deployments", True),
    "StatefulSet": ("apps", "v1", "statefulsets", True),
    "DaemonSet": ("apps", "v1", "daemonsets", True),
    "Job": ("batch", "v1", "jobs", True),
    "CronJob": ("batch", "v1", "cronjobs", True),
    "Pod": ("", "v1", "pods", True),
    "ServiceAccount": ("", "v1", "serviceaccounts", True),
    "ConfigMap": ("", "v1", "configmaps", True),
    "PersistentVolumeClaim": ("", "v1", "persistentvolumeclaims", True),
    "HorizontalPodAutoscaler": ("autoscaling", "v2", "horizontalpodautoscalers", True),
    "PodDisruptionBudget": ("policy", "v1", "poddisruptionbudgets", True),
    "NetworkPolicy": ("networking.k8s.io", "v1", "networkpolicies", True),
    "Ingress": ("networking.k8s.io", "v1", "ingresses", True),
    "Role": ("rbac.authorization.k8s.io", "v1", "roles", True),
    "RoleBinding": ("rbac.authorization.k8s.io", "v1", "rolebindings", True),
    "ClusterRole": ("rbac.authorization.k8s.io", "v1", "clusterroles", False),
    "ClusterRoleBinding": ("rbac.authorization.k8s.io", "v1", "clusterrolebindings", False),
    "PersistentVolume": ("", "v1", "persistentvolumes", False),
    "StorageClass": ("storage.k8s.io", "v1", "storageclasses", False),
    "Node": ("", "v1", "nodes", False),
    "Namespace": ("", "v1", "namespaces", False),
    "Certificate": ("cert-manager.io", "v1", "certificates", True),
    "ResourceQuota": ("", "v1", "resourcequotas", True),
    "LimitRange": ("", "v1", "limitranges", True),
    # GitOps controllers' custom resources (read in gitops_namespaces too: they live beside their controller).
    "Application": ("argoproj.io", "v1alpha1", "applications", True),
    "Kustomization": ("kustomize.toolkit.fluxcd.io", "v1", "kustomizations", True),
    "HelmRelease": ("helm.toolkit.fluxcd.io", "v2", "helmreleases", True),
}
#: Where Argo CD and Flux keep their Applications, Kustomizations and HelmReleases by default.
GITOPS_NAMESPACES = ("argocd", "flux-system")
#: The kinds that carry a pod template (or are pods): what the workload rules read.
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod")
PAGE = 500  # items per list request
MAX_PAGES = 100
MAX_BYTES = 32 * 1024 * 1024  # per list response: a cluster that answers more is named, not read


class _Unauthorized(Exception):
    """The API server refused the credentials (401): no check should try again."""


class KubernetesTarget(TargetHandle):
    """A live cluster (``kubernetes`` target) or a ``files`` target's manifests, as Kubernetes objects."""

    def __init__(self, target: Target, reach: Reachability) -> None:
        super().__init__(target, reach)
        self._client: Any = None
        self._lists: dict[str, list[K8sObject]] = {}
        self._manifests: list[K8sObject] | None = None

    # --- what it is -------------------------------------------------------------------------

    @property
    def live(self) -> bool:
        """True for a cluster, False for manifest files."""
        return self.target.kind == "kubernetes"

    @property
    def label(self) -> str:
        if self.live:
            return f"{self.name} (context {self.context})"
        return self.target.label

    @property
    def context(self) -> str:
        """The kubeconfig context: the inventory's ``context``, else the kubeconfig's current one."""
        return str(self.target.get("context") or _kubeconfig(Path(str(self.target.get("kubeconfig")))).get("current-context") or "")

    @property
    def namespaces(self) -> tuple[str, ...]:
        """The namespaces judged: ``namespaces``, ``namespace``, else the context's, else ``default``."""
        if not self.live:
            return ()
        listed = self.target.get("namespaces") or ((self.target.get("namespace"),) if self.target.get("namespace") else ())
        if listed:
            return tuple(str(n) for n in listed)
        context = _context(_kubeconfig(Path(str(self.target.get("kubeconfig")))), self.context) or {}
        return (str(context.get("namespace") or "default"),)

    def require_live(self, what: str) -> None:
        """End the check as n/a on manifests: ``what`` only a running cluster shows."""
        if not self.live:
            raise NotApplicable(f"{self.name}: manifests carry no {what}; add a kubernetes target for the live cluster")

    # --- objects ----------------------------------------------------------------------------

    def objects(self, *kinds: str) -> list[K8sObject]:
        """Objects of ``kinds`` (every kind without arguments, manifests only): from the manifests,
        or listed from the cluster (namespaced kinds in ``namespaces``, cluster-scoped kinds whole)."""
        if not self.live:
            found = self.manifests()
            return [o for o in found if o.kind in kinds] if kinds else found
        if not kinds:
            raise TypeError("a live cluster is listed by kind: objects('Deployment', ...)")
        out: list[K8sObject] = []
        for kind in kinds:
            listed = self.list_kind(kind)
            out.extend(listed or ())
        return out

    def judged(self, *kinds: str) -> list[K8sObject]:
        """What the manifest-shaped rules judge: ``objects(*kinds)`` less what a controller made on
        a live cluster (a Deployment is judged by its template, not again in each of its pods) and
        less the PersistentVolumes no claim of these namespaces holds."""
        found = self.objects(*kinds)
        if not self.live:
            return found
        claimed = set(self.namespaces)
        return [o for o in found if not owned(o) and (o.kind != "PersistentVolume" or ((o.doc.get("spec") or {}).get("claimRef") or {}).get("namespace") in claimed)]

    def manifests(self) -> list[K8sObject]:
        """Every object of the ``files`` target's ``manifests`` (paths or globs), once per run."""
        if self._manifests is None:
            root = Path(str(self.target.get("path")))
            paths = globbed(self, "manifests")
            try:
                self._manifests = load_manifests(paths, names={p: display(p, root) for p in paths})
            except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
                raise TargetError(f"{self.label}: cannot read the manifests: {' '.join(str(exc).split())[:300]}") from None
        return self._manifests

    @property
    def path(self) -> Path:  # for ``globbed`` on a files target
        return Path(str(self.target.get("path")))

    def list_kind(self, kind: str, namespaces: Sequence[str] | None = None) -> list[K8sObject] | None:
        """Every ``kind`` object on the cluster (in ``namespaces``, default the target's, when
        namespaced); None when the API server does not serve the kind at all (a custom resource
        that is not installed)."""
        spaces = tuple(dict.fromkeys(namespaces)) if namespaces is not None else self.namespaces
        key = kind if namespaces is None else f"{kind}@{','.join(spaces)}"
        if key in self._lists:
            return self._lists[key]
        group, version, plural, namespaced = RESOURCES[kind]
        base = f"/apis/{group}/{version}" if group else f"/api/{version}"
        paths = [f"{base}/namespaces/{ns}/{plural}" for ns in spaces] if namespaced else [f"{base}/{plural}"]
        found: list[K8sObject] = []
        for path in paths:
            response = self.get_list(path)
            if response is None:
                return None
            found.extend(items(response, kind, ""))
        self._lists[key] = found
        return found

    def get_list(self, path: str) -> dict[str, Any] | None:
        """A list response, every page of it merged; None on 404.  Read-only: GET only."""
        merged: dict[str, Any] | None = None
        token = ""
        for _ in range(MAX_PAGES):
            query = [("limit", PAGE), *([("continue", token)] if token else [])]
            page = self._get(path, query)
            if page is None:
                return None
            if merged is None:
                merged = page
            else:
                merged["items"] = [*merged.get("items", []), *page.get("items", [])]
            token = str((page.get("metadata") or {}).get("continue") or "")
            if not token:
                return merged
        raise TargetError(f"{self.label}: {path} has more than {PAGE * MAX_PAGES} items; narrow the namespaces")

    def _get(self, path: str, query: list[tuple[str, Any]]) -> dict[str, Any] | None:
        import urllib3

        configuration, pool = self._connection()
        headers = {"Accept": "application/json", "User-Agent": "pytest-deploycheck"}
        url = f"{str(configuration.host).rstrip('/')}{path}?{urllib.parse.urlencode(query)}"
        with self.reach.guard(self.target, unreachable=(urllib3.exceptions.HTTPError,)):
            # auth_settings() runs the refresh hook: an exec plugin's token is renewed when it expires.
            for auth in (configuration.auth_settings() or {}).values():
                if auth.get("in") == "header" and auth.get("value"):
                    headers[str(auth["key"])] = str(auth["value"])
            response = pool.request("GET", url, headers=headers, preload_content=False, retries=False,
                                    timeout=urllib3.Timeout(connect=self.timeout, read=self.timeout))
            try:
                data = response.read(MAX_BYTES + 1, decode_content=True)
            finally:
                response.release_conn()
        status = int(response.status)
        if status == 404:
            return None
        if status == 401:
            self.reach.mark(self.target, "authentication refused (401 Unauthorized)")
            raise TargetError(f"{self.label}: the API server refused the credentials (401 Unauthorized); check the kubeconfig's user or token")
        if status == 403:
            raise TargetError(f"{self.label}: GET {path} is forbidden (403): grant the user 'get' and 'list' on it (a read-only ClusterRole such as 'view')")
        if status != 200:
            raise TargetError(f"{self.label}: GET {path} answered {status}: {_status_message(data)}")
        if len(data) > MAX_BYTES:
            raise TargetError(f"{self.label}: GET {path} answered more than {MAX_BYTES // (1024 * 1024)} MiB; narrow the namespaces")
        try:
            body = json.loads(data)
        except ValueError:
            raise TargetError(f"{self.label}: GET {path} did not answer JSON") from None
        return dict(body) if isinstance(body, dict) else None

    def _connection(self) -> tuple[Any, Any]:
        """The client configuration the kubeconfig's context gives (made once; runs any exec plugin)
        and a connection pool with its TLS settings.  The official client reads the kubeconfig
        (certificate data, exec plugins, OIDC); the GETs go through urllib3 directly so that every
        request has the target's timeout, no retries, and a size cap, in every client version."""
        if self._client is not None:
            return self._client  # type: ignore[no-any-return]
        try:
            import kubernetes
        except ImportError:
            raise TargetError(f"{self.label}: the Kubernetes client is not installed: {KUBERNETES_EXTRA}") from None
        import urllib3

        path = Path(str(self.target.get("kubeconfig")))
        config = _kubeconfig(path)
        if not config:
            raise TargetError(f"{self.label}: cannot read the kubeconfig {path}")
        config = _absolute_paths(config, path.parent)
        context = self.context
        if self.target.get("token"):
            # The inventory's token replaces the user's credentials: no exec plugin runs.
            config = _with_token(config, context, str(self.target.get("token")))
        configuration = kubernetes.client.Configuration()
        try:
            kubernetes.config.load_kube_config_from_dict(config, context=context or None, client_configuration=configuration, persist_config=False)  # type: ignore[no-untyped-call]
        except (kubernetes.config.ConfigException, OSError, ValueError) as exc:
            raise TargetError(f"{self.label}: cannot use the kubeconfig {path}: {first_line(exc)}") from None
        tls: dict[str, Any] = {"cert_reqs": ssl.CERT_REQUIRED if configuration.verify_ssl else ssl.CERT_NONE}
        for option, attribute in (("ca_certs", "ssl_ca_cert"), ("cert_file", "cert_file"), ("key_file", "key_file"), ("server_hostname", "tls_server_name")):
            if getattr(configuration, attribute, None):
                tls[option] = getattr(configuration, attribute)
        proxy = getattr(configuration, "proxy", None)
        pool = urllib3.ProxyManager(proxy, **tls) if proxy else urllib3.PoolManager(**tls)
        self._client = (configuration, pool)
        return self._client  # type: ignore[no-any-return]

    def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client[1].clear()
            self._client = None


def _status_message(data: bytes) -> str:
    with contextlib.suppress(ValueError):
        body = json.loads(data[:65536])
        if isinstance(body, dict) and body.get("message"):
            return str(body["message"])[:200]
    return data[:200].decode(errors="replace")


def _kubeconfig(path: Path) -> dict[str, Any]:
    """The kubeconfig as a mapping; {} when it cannot be read."""
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _named(config: Mapping[str, Any], section: str, name: str) -> dict[str, Any] | None:
    for entry in config.get(section) or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            inner = entry.get(section[:-1]) or {}
            return inner if isinstance(inner, dict) else None
    return None


def _context(config: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    return _named(config, "contexts", name or str(config.get("current-context") or ""))


def _absolute_paths(config: dict[str, Any], base: Path) -> dict[str, Any]:
    """Relative file paths in a kubeconfig are relative to the kubeconfig's folder (kubectl's rule)."""
    out = json.loads(json.dumps(config, default=str))
    for section, inner in (("clusters", "cluster"), ("users", "user")):
        for entry in out.get(section) or []:
            values = entry.get(inner) if isinstance(entry, dict) else None
            if not isinstance(values, dict):
                continue
            for key in ("certificate-authority", "client-certificate", "client-key", "tokenFile"):
                if isinstance(values.get(key), str) and not os.path.isabs(values[key]):
                    values[key] = str(base / values[key])
    return dict(out)


def _with_token(config: dict[str, Any], context: str, token: str) -> dict[str, Any]:
    ctx = _context(config, context) or {}
    user = str(ctx.get("user") or "")
    config["users"] = [u for u in config.get("users") or [] if isinstance(u, dict) and u.get("name") != user] + [{"name": user, "user": {"token": token}}]
    return config


def cluster_server(target: Target) -> str | None:
    """The API server URL of the target's context, from its kubeconfig."""
    config = _kubeconfig(Path(str(target.get("kubeconfig"))))
    ctx = _context(config, str(target.get("context") or ""))
    cluster = _named(config, "clusters", str(ctx.get("cluster") or "")) if ctx else None
    server = (cluster or {}).get("server")
    return str(server) if server else None


def address(target: Target) -> tuple[str, int] | None:
    server = cluster_server(target)
    return url_address(server, {"https": 443, "http": 80}) if server else None


def validate(ld: YamlLoader, spec: Mapping[str, Any], raw: Mapping[str, YamlNode], keypath: str) -> None:
    """The kubeconfig must name the context and its cluster's server; one of namespace / namespaces."""
    if "namespace" in spec and "namespaces" in spec:
        ld.problem(raw["namespaces"].line, f"{keypath}.namespaces", "give either namespace or namespaces, not both")
    if "kubeconfig" not in spec:
        return
    config = _kubeconfig(Path(str(spec["kubeconfig"])))
    line = raw["kubeconfig"].line
    if not config:
        ld.problem(line, f"{keypath}.kubeconfig", "not a readable kubeconfig (YAML with clusters, contexts and users)")
        return
    name = str(spec.get("context") or config.get("current-context") or "")
    if not name:
        ld.problem(line, f"{keypath}.context", "the kubeconfig has no current-context; name the context to use")
    elif _context(config, name) is None:
        known = ", ".join(str(c.get("name")) for c in config.get("contexts") or [] if isinstance(c, dict))
        ld.problem(raw["context"].line if "context" in raw else line, f"{keypath}.context", f"no context {name!r} in the kubeconfig (it has: {known})")


FIELDS: dict[str, Field] = {
    "kubeconfig": Field("path", "the kubeconfig file to read the cluster through (read-only use: get and list)", required=True, must_exist=True),
    "context": Field("str", "the kubeconfig context (default: its current-context)"),
    "namespace": Field("str", "the namespace the application runs in (default: the context's namespace, else default)"),
    "namespaces": Field("list[str]", "several namespaces, instead of namespace"),
    "token": Field("str", "a bearer token that replaces the kubeconfig user's credentials (use ${VAR})"),
    "image_registries": Field("list[str]", "the registries (or registry/path prefixes: ghcr.io/acme) the cluster's images may come from"),
    "gitops_namespaces": Field("list[str]", "where Argo CD Applications and Flux Kustomizations and HelmReleases live, read besides "
                               "the namespaces (default: argocd, flux-system)"),
}


def _has_manifests(target: Target) -> bool:
    return bool(target.get("manifests"))


KIND = TargetKind(
    name="kubernetes", fixture="k8s", handle=KubernetesTarget, fields=FIELDS, address=address, validate=validate,
    also={"files": _has_manifests},
    summary="""A ``kubernetes`` target (a live cluster through a kubeconfig context) or a ``files`` target's
    ``manifests``: ``k8s.objects("Deployment")`` -> objects with ``kind``, ``namespace``, ``name``, ``doc``;
    ``k8s.live``; ``k8s.namespaces``.  Read-only: GET requests with the target's timeout.""",
)
