"""A stand-in for the Kubernetes API server: the ONE stand-in of the test bed.

Every other server of the test bed is the real thing.  This one cannot be: no Kubernetes API server
can run on this machine (it needs etcd, a container runtime and a kubelet to have anything to show,
and none of them can run here), so this module serves the read-only part of the Kubernetes REST API
that the checks use, from files:

* manifests (``tests/data/containers/k8s/good.yaml``, multi-document, ``List`` kinds expanded), plus
* a status overlay (``cluster-good.yaml``): documents matched to manifest objects by kind, namespace and
  name and deep-merged into them (``status`` of a Deployment, a PVC, a Certificate), or added when
  nothing matches (Nodes and Pods, which a cluster makes and manifests never contain).  The ``bad``
  overlay shows a CrashLoopBackOff pod, a NotReady node, an unbound PVC, an unavailable Deployment
  and a Certificate that is not Ready.

It answers what ``kubernetes`` (the official Python client) and ``kubectl get -o json`` call:
``/version``; discovery (``/api``, ``/apis``, ``/api/v1``, ``/apis/{group}/{version}``); lists and
gets, cluster-wide and namespaced (``/api/v1/pods``, ``/api/v1/namespaces/{ns}/pods``,
``/apis/apps/v1/deployments``, ``/apis/cert-manager.io/v1/namespaces/{ns}/certificates/{name}``), with
``labelSelector`` and ``fieldSelector``.  List responses have the real shape: ``kind: PodList``,
``apiVersion``, ``metadata.resourceVersion``, ``items`` (built-in items without ``kind``/``apiVersion``,
as the API server sends them; custom resources with them).  Requests need ``Authorization: Bearer
<token>``; anything but GET, and watches, get a ``Status`` 405.  Errors are ``Status`` objects.

It runs in a thread of the test process (stdlib ``http.server``) on 127.0.0.1, on a free port, over
HTTPS with a certificate from the test CA (client-go sends no bearer token over plain HTTP).  ``write_kubeconfig`` writes a kubeconfig whose user
gets the bearer token from an environment variable through an exec credential plugin, so the file
holds no secret, like every inventory of the test bed.
"""

from __future__ import annotations

import copy
import json
import re
import secrets
import shutil
import ssl
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from tests.servers.base import LOOPBACK, Instance, env_name, free_port, make_tempdir, serve
from tests.servers.certs import TestCA

Variant = Literal["good", "bad"]

DATA = Path(__file__).resolve().parents[1] / "data" / "containers" / "k8s"
#: What /version reports; the manifests are written for (and validate against) this version.
KUBERNETES_VERSION = ("1", "30", "v1.30.0")
CREATED = "2026-01-05T08:00:00Z"  # a fixed creationTimestamp: the data must not depend on the clock


@dataclass(frozen=True)
class Resource:
    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def builtin(self) -> bool:
        return not self.group.endswith(".io") or self.group.endswith(".k8s.io")


RESOURCES: tuple[Resource, ...] = (
    Resource("", "v1", "namespaces", "Namespace", False, ("ns",)),
    Resource("", "v1", "nodes", "Node", False, ("no",)),
    Resource("", "v1", "pods", "Pod", True, ("po",)),
    Resource("", "v1", "services", "Service", True, ("svc",)),
    Resource("", "v1", "serviceaccounts", "ServiceAccount", True, ("sa",)),
    Resource("", "v1", "configmaps", "ConfigMap", True, ("cm",)),
    Resource("", "v1", "secrets", "Secret", True),
    Resource("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, ("pvc",)),
    Resource("", "v1", "persistentvolumes", "PersistentVolume", False, ("pv",)),
    Resource("", "v1", "resourcequotas", "ResourceQuota", True, ("quota",)),
    Resource("", "v1", "limitranges", "LimitRange", True, ("limits",)),
    Resource("apps", "v1", "deployments", "Deployment", True, ("deploy",)),
    Resource("apps", "v1", "statefulsets", "StatefulSet", True, ("sts",)),
    Resource("apps", "v1", "daemonsets", "DaemonSet", True, ("ds",)),
    Resource("apps", "v1", "replicasets", "ReplicaSet", True, ("rs",)),
    Resource("batch", "v1", "jobs", "Job", True),
    Resource("batch", "v1", "cronjobs", "CronJob", True, ("cj",)),
    Resource("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", True, ("hpa",)),
    Resource("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True, ("pdb",)),
    Resource("networking.k8s.io", "v1", "ingresses", "Ingress", True, ("ing",)),
    Resource("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", True, ("netpol",)),
    Resource("rbac.authorization.k8s.io", "v1", "roles", "Role", True),
    Resource("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True),
    Resource("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
    Resource("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False),
    Resource("storage.k8s.io", "v1", "storageclasses", "StorageClass", False, ("sc",)),
    Resource("cert-manager.io", "v1", "certificates", "Certificate", True, ("cert", "certs")),
    Resource("argoproj.io", "v1alpha1", "applications", "Application", True, ("app", "apps")),
    Resource("kustomize.toolkit.fluxcd.io", "v1", "kustomizations", "Kustomization", True, ("ks",)),
    Resource("helm.toolkit.fluxcd.io", "v2", "helmreleases", "HelmRelease", True, ("hr",)),
)
_BY_KIND = {r.kind: r for r in RESOURCES}


# --- the cluster's objects ---


def _load(paths: Iterable[Path]) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for path in paths:
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if isinstance(doc, dict) and str(doc.get("kind", "")).endswith("List") and isinstance(doc.get("items"), list):
                objects.extend(doc["items"])
            elif isinstance(doc, dict) and "kind" in doc:
                objects.append(doc)
    return objects


def _key(obj: Mapping[str, Any]) -> tuple[str, str, str]:
    meta = obj.get("metadata") or {}
    resource = _BY_KIND.get(str(obj.get("kind")))
    namespace = str(meta.get("namespace") or "default") if resource is None or resource.namespaced else ""
    return str(obj.get("kind")), namespace, str(meta.get("name"))


def _deep_merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)  # lists (conditions, containerStatuses) are replaced whole
    return base


class Cluster:
    """The objects the stand-in serves, keyed by (kind, namespace, name)."""

    def __init__(self, manifests: Sequence[Path], overlays: Sequence[Path] = ()) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        for obj in _load(manifests):
            if str(obj.get("kind")) in _BY_KIND:  # kinds we do not serve would never be listed anyway
                self.objects[_key(obj)] = copy.deepcopy(obj)
        for patch in _load(overlays):
            key = _key(patch)
            if key in self.objects:
                _deep_merge(self.objects[key], patch)
            else:
                self.objects[key] = copy.deepcopy(patch)
        self.resource_version = 1000
        for index, (key, obj) in enumerate(sorted(self.objects.items())):
            self._complete(key, obj, self.resource_version + index + 1)
        self.resource_version += len(self.objects) + 1

    @staticmethod
    def _complete(key: tuple[str, str, str], obj: dict[str, Any], resource_version: int) -> None:
        """Fill in the metadata an API server sets on every object it stores."""
        kind, namespace, name = key
        meta = obj.setdefault("metadata", {})
        if namespace:
            meta["namespace"] = namespace
        meta.setdefault("uid", str(uuid.uuid5(uuid.NAMESPACE_URL, f"deploycheck/{kind}/{namespace}/{name}")))
        meta.setdefault("resourceVersion", str(resource_version))
        meta.setdefault("creationTimestamp", CREATED)
        if kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"}:
            meta.setdefault("generation", 1)
        obj.setdefault("apiVersion", _BY_KIND[kind].group_version if kind in _BY_KIND else "v1")

    def select(self, resource: Resource, namespace: str | None, labels: str | None = None, fields: str | None = None) -> list[dict[str, Any]]:
        found = [obj for (kind, ns, _), obj in sorted(self.objects.items()) if kind == resource.kind and (namespace is None or ns == namespace)]
        if labels:
            found = [o for o in found if label_selector_matches(labels, (o.get("metadata") or {}).get("labels") or {})]
        if fields:
            found = [o for o in found if field_selector_matches(fields, o)]
        return found

    def item(self, resource: Resource, obj: Mapping[str, Any]) -> dict[str, Any]:
        """An object as it appears in a list: built-in kinds without kind/apiVersion, like the real server."""
        out = copy.deepcopy(dict(obj))
        if resource.builtin:
            out.pop("kind", None)
            out.pop("apiVersion", None)
        return out


def _split_selector(text: str) -> Iterator[str]:
    depth, start = 0, 0
    for index, char in enumerate(text):
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            yield text[start:index].strip()
            start = index + 1
    if text[start:].strip():
        yield text[start:].strip()


def label_selector_matches(selector: str, labels: Mapping[str, str]) -> bool:
    """The string form of a label selector: ``a=b``, ``a==b``, ``a!=b``, ``a``, ``!a``, ``a in (x,y)``, ``a notin (x)``."""
    for term in _split_selector(selector):
        if match := re.fullmatch(r"([^\s!=]+)\s+(in|notin)\s+\((.*)\)", term):
            key, op, values = match.group(1), match.group(2), {v.strip() for v in match.group(3).split(",")}
            if (op == "in") != (labels.get(key) in values):
                return False
        elif match := re.fullmatch(r"([^\s!=]+)\s*(==|=|!=)\s*(\S*)", term):
            key, op, value = match.groups()
            if (op == "!=") == (labels.get(key) == value):
                return False
        elif term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif term not in labels:
            return False
    return True


def field_selector_matches(selector: str, obj: Mapping[str, Any]) -> bool:
    """``metadata.name=x,status.phase!=Running``: any dotted path, = / == / !=."""
    for term in _split_selector(selector):
        match = re.fullmatch(r"([\w.]+)\s*(==|=|!=)\s*(.*)", term)
        if not match:
            return False
        path, op, value = match.groups()
        node: Any = obj
        for part in path.split("."):
            node = node.get(part) if isinstance(node, Mapping) else None
        if (op == "!=") == (str(node if node is not None else "") == value):
            return False
    return True


# --- HTTP ---


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message, "reason": reason, "code": code}


_CORE = re.compile(r"^/api/(?P<version>v1)(?:/namespaces/(?P<ns>[^/]+))?/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?$")
_GROUP = re.compile(r"^/apis/(?P<group>[^/]+)/(?P<version>[^/]+)(?:/namespaces/(?P<ns>[^/]+))?/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?$")


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # record instead of printing to stderr
        self.server.requests.append(f"{self.command} {self.path}")

    def _send(self, code: int, body: Mapping[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorised(self) -> bool:
        expected = f"Bearer {self.server.token}"
        if secrets.compare_digest(self.headers.get("Authorization", ""), expected):
            return True
        self._send(401, _status(401, "Unauthorized", "Unauthorized"))
        return False

    def do_GET(self) -> None:
        if not self._authorised():
            return
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        code, body = self.server.answer(url.path.rstrip("/") or "/", query)
        self._send(code, body)

    def _refuse(self) -> None:
        if self._authorised():
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            self._send(405, _status(405, "MethodNotAllowed", f"the deploycheck stand-in is read-only: {self.command} is not supported"))

    do_POST = do_PUT = do_PATCH = do_DELETE = _refuse


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, cluster: Cluster, token: str) -> None:
        super().__init__((LOOPBACK, port), _Handler)
        self.cluster = cluster
        self.token = token
        self.requests: list[str] = []

    def answer(self, path: str, query: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        major, minor, git = KUBERNETES_VERSION
        if path == "/version":
            return 200, {"major": major, "minor": minor, "gitVersion": git, "gitCommit": "0" * 40, "gitTreeState": "clean",
                         "buildDate": CREATED, "goVersion": "go1.22.2", "compiler": "gc", "platform": "linux/amd64"}
        if path == "/api":
            return 200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": f"{LOOPBACK}:{self.server_port}"}]}
        if path == "/apis":
            groups: dict[str, list[str]] = {}
            for r in RESOURCES:
                if r.group and r.version not in groups.setdefault(r.group, []):
                    groups[r.group].append(r.version)
            return 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": g, "versions": [{"groupVersion": f"{g}/{v}", "version": v} for v in vs], "preferredVersion": {"groupVersion": f"{g}/{vs[0]}", "version": vs[0]}}
                for g, vs in groups.items()]}
        if match := re.fullmatch(r"/api/(v1)|/apis/([^/]+)/([^/]+)", path):
            group, version = (match.group(2) or "", match.group(3)) if match.group(2) else ("", match.group(1))
            found = [r for r in RESOURCES if r.group == group and r.version == version]
            if not found:
                return 404, _status(404, "NotFound", f"the server could not find the requested resource ({path})")
            return 200, {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": found[0].group_version, "resources": [
                {"name": r.plural, "singularName": r.kind.lower(), "namespaced": r.namespaced, "kind": r.kind, "verbs": ["get", "list"],
                 **({"shortNames": list(r.short_names)} if r.short_names else {})} for r in found]}
        match = _CORE.match(path) or _GROUP.match(path)
        if not match:
            return 404, _status(404, "NotFound", f"the server could not find the requested resource ({path})")
        parts = match.groupdict()
        group = parts.get("group") or ""
        resource = next((r for r in RESOURCES if r.group == group and r.version == parts["version"] and r.plural == parts["plural"]), None)
        if resource is None or (parts["ns"] and not resource.namespaced):
            return 404, _status(404, "NotFound", f"the server could not find the requested resource ({path})")
        if query.get("watch") in {"1", "true"}:
            return 405, _status(405, "MethodNotAllowed", "the deploycheck stand-in does not support watch")
        cluster = self.cluster
        if parts["name"]:
            hits = cluster.select(resource, parts["ns"] if resource.namespaced else None, fields=f"metadata.name={parts['name']}")
            if not hits:
                return 404, {**_status(404, "NotFound", f'{resource.plural}{"." + group if group else ""} "{parts["name"]}" not found'),
                             "details": {"name": parts["name"], "group": group, "kind": resource.plural}}
            return 200, copy.deepcopy(hits[0])
        items = cluster.select(resource, parts["ns"], query.get("labelSelector"), query.get("fieldSelector"))
        return 200, {"kind": f"{resource.kind}List", "apiVersion": resource.group_version,
                     "metadata": {"resourceVersion": str(cluster.resource_version)}, "items": [cluster.item(resource, o) for o in items]}


@dataclass
class KubeAPIServer:
    """The stand-in running in a daemon thread; ``stop()`` shuts it down and closes its port."""

    cluster: Cluster
    token: str
    tls: ssl.SSLContext | None = None
    port: int = field(default_factory=free_port)
    _server: _Server | None = field(default=None, init=False, repr=False)
    _thread: threading.Thread | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{LOOPBACK}:{self.port}"

    @property
    def requests(self) -> list[str]:
        """``"GET /api/v1/pods?..."`` for every request served so far: what a client really called."""
        return list(self._server.requests) if self._server else []

    def start(self) -> KubeAPIServer:
        self._server = _Server(self.port, self.cluster, self.token)
        if self.tls is not None:
            self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"kubeapi-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


@dataclass
class KubeInstance(Instance):
    """An ``Instance`` whose server is a thread of this process, not a child process."""

    api: KubeAPIServer | None = None
    workdir: Path | None = None

    def stop(self) -> None:
        if self.api is not None:
            self.api.stop()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


def write_kubeconfig(path: Path, url: str, token_env: str, *, context: str, namespace: str = "default", ca_file: Path | None = None) -> Path:
    """A kubeconfig for ``url`` whose bearer token comes from ``$token_env`` via an exec credential plugin.

    Both ``kubectl`` and the Python client run the plugin; the file itself holds no secret.
    """
    credential = '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s"}}'
    cluster: dict[str, Any] = {"server": url}
    if ca_file is not None:
        cluster["certificate-authority"] = str(ca_file)
    config = {
        "apiVersion": "v1", "kind": "Config", "preferences": {}, "current-context": context,
        "clusters": [{"name": context, "cluster": cluster}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context, "namespace": namespace}}],
        "users": [{"name": context, "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1", "command": "/bin/sh",
            "args": ["-c", f"printf '{credential}' \"${token_env}\""],
            "interactiveMode": "Never", "provideClusterInfo": False,
        }}}],
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def launch_kubeapi(variant: Variant, name: str | None = None, *, manifests: Sequence[Path] | None = None, overlays: Sequence[Path] | None = None,
                   ca: TestCA | None = None, namespace: str = "shop") -> KubeInstance:
    """Start the stand-in API server serving the ``variant`` cluster and return its inventory entry.

    By default ``good`` serves ``k8s/good.yaml`` with ``k8s/cluster-good.yaml`` over it and ``bad``
    serves ``k8s/bad.yaml`` with ``k8s/cluster-bad.yaml``.  It speaks HTTPS only, with a certificate
    from ``ca`` (the session's test CA) or, without one, from a CA of its own in its directory.

    ``entry``: ``kubeconfig`` (a file in a temporary directory), ``context``, ``namespace``, and
    ``token`` as ``${DC_<NAME>_TOKEN}``; ``env`` holds that variable.  ``admin``: ``url``, ``token``,
    ``api`` (the ``KubeAPIServer``, whose ``requests`` lists what clients called), ``ca_file``.
    """
    name = name or f"kube-{variant}"
    manifests = list(manifests) if manifests is not None else [DATA / f"{variant}.yaml"]
    overlays = list(overlays) if overlays is not None else [DATA / f"cluster-{variant}.yaml"]
    workdir = make_tempdir(name)
    token = secrets.token_urlsafe(24)
    # Always HTTPS, as every real API server: kubectl (client-go) never sends a bearer token over plain HTTP.
    ca = ca or TestCA.create(workdir / "ca")
    files = ca.issue(f"{workdir.name}-apiserver", ("localhost", LOOPBACK, "kubernetes.default.svc"))
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(files.chain, files.key)
    api = KubeAPIServer(Cluster(manifests, overlays), token, tls).start()
    token_var = env_name(name, "token")
    kubeconfig = write_kubeconfig(workdir / "kubeconfig", api.url, token_var, context=name, namespace=namespace, ca_file=ca.ca_file)
    return KubeInstance(
        name=name, kind="kubernetes",
        entry={"kubeconfig": str(kubeconfig), "context": name, "namespace": namespace, "token": f"${{{token_var}}}"},
        env={token_var: token}, server=None,
        admin={"url": api.url, "token": token, "api": api, "ca_file": str(ca.ca_file), "workdir": str(workdir)},
        api=api, workdir=workdir,
    )


# --- fixtures (import them into a conftest or a test module to use them) ---


@pytest.fixture(scope="session")
def kube_good(test_ca: TestCA) -> Iterator[Instance]:
    """The stand-in API server serving a healthy, hardened cluster; see ``launch_kubeapi``.

    Its secret is in ``kube_good.env``; set it in the environment before a client reads the kubeconfig::

        monkeypatch.setenv(*next(iter(kube_good.env.items())))
        kubernetes.config.load_kube_config(kube_good.entry["kubeconfig"])
    """
    yield from serve(launch_kubeapi("good", ca=test_ca))


@pytest.fixture(scope="session")
def kube_bad(test_ca: TestCA) -> Iterator[Instance]:
    """The stand-in API server serving a broken cluster (CrashLoopBackOff, NotReady node, Pending PVC); see ``launch_kubeapi``."""
    yield from serve(launch_kubeapi("bad", ca=test_ca))
