"""Compose files of a ``files`` target: the merged configuration and the rules the ``comp-NN`` checks apply.

``load_compose`` merges the files in order the way ``docker compose -f a -f b config`` does
(mappings key by key; ``ports``-like lists appended; ``environment``/``labels`` merged as
mappings whether written as lists or maps; ``volumes``/``devices`` by target path;
``command``/``entrypoint``/``healthcheck.test`` replaced; ``!reset`` and ``!override``), keeping
for every value the ``file:line`` that last set it.  The output of ``docker compose config`` is
a Compose file too: name it alone and the checks judge exactly what Compose would run.

Rules mirror the CIS Docker Benchmark (5.4 privileged, 5.9 host network, 5.31 Docker socket,
5.10/5.11 memory and CPU limits, 5.14 restart policy) and Docker's own production advice (a
healthcheck per service, bounded json-file logs, named volumes for data, no literal secrets).

A service that runs once and exits (a migration, a seed) says so with the label
``deploycheck.one-shot: "true"`` or ``x-deploycheck: {one-shot: true}``: it needs no restart
policy or healthcheck.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pytest_deploycheck.outcomes import TargetError
from pytest_deploycheck.targets.container_common import (
    Finding,
    ImageRef,
    display,
    globbed,
    image_problems,
    is_literal_secret,
    looks_secret,
    redact,
    registry_problem,
    substitute,
)
from pytest_deploycheck.targets.dockerfile import dockerfile_healthcheck, read_dockerfile
from pytest_deploycheck.targets.yaml_marks import Mark, MDict, MList, Override, Reset, load_yaml_documents, mark_of

COMPOSE_FILE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
#: Keys whose list value the override replaces (compose-spec merge rules), by path inside a service.
_REPLACE = {("command",), ("entrypoint",), ("healthcheck", "test")}
#: Keys whose value is a mapping that may also be written as a KEY=VALUE list.
_MAP_LIKE = {"environment", "labels", "sysctls", "extra_hosts", "annotations", "build.args"}
#: Keys whose list items are identified by their target path.
_BY_TARGET = {"volumes", "devices", "secrets", "configs", "tmpfs"}
_TOP_MAPS = {"services", "volumes", "networks", "secrets", "configs"}


@dataclass(frozen=True)
class ComposeService:
    project: str
    name: str
    spec: MDict
    base_dir: Path  # where relative build contexts resolve
    mark: Mark | None = None  # the service's key under ``services:`` in the file that first defined it

    @property
    def object(self) -> str:
        return f"compose-service/{self.project}/{self.name}"

    def loc(self, *path: Any) -> str:
        """``file:line`` of ``spec[path...]`` (the file that last set it); the service's own line without a path."""
        mark = mark_of(self.spec, *path) if path else self.mark or self.spec.mark
        return str(mark) if mark else f"<{self.name}>"


@dataclass(frozen=True)
class ComposeProject:
    name: str
    files: tuple[str, ...]
    doc: MDict
    services: tuple[ComposeService, ...]


def find_compose_files(directory: str | Path) -> list[Path]:
    """The files ``docker compose`` reads in ``directory`` without ``-f``: the main file and its override."""
    directory = Path(directory)
    for name in COMPOSE_FILE_NAMES:
        main = directory / name
        if main.is_file():
            stem, ext = name.rsplit(".", 1)
            override = directory / f"{stem}.override.{ext}"
            return [main, override] if override.is_file() else [main]
    raise FileNotFoundError(f"no {' / '.join(COMPOSE_FILE_NAMES)} in {directory}")


def load_compose(files: Sequence[str | Path], project: str | None = None, *, root: Path | None = None) -> ComposeProject:
    """Read Compose files and merge them in order, as ``docker compose -f a -f b config`` does.

    Mappings merge key by key; ``ports``-like sequences append; ``environment``/``labels`` merge as
    mappings whether written as lists or maps; ``volumes``/``devices`` merge by target path;
    ``command``/``entrypoint``/``healthcheck.test`` are replaced; ``!reset`` and ``!override`` work.
    The output of ``docker compose config`` is a Compose file too: pass it alone.  Locations name
    the files relative to ``root`` when given (the ``files`` target's folder).
    """
    if not files:
        raise ValueError("load_compose needs at least one file")
    merged: MDict | None = None
    for path in files:
        shown = display(Path(path), root) if root is not None else str(path)
        docs = load_yaml_documents(Path(path).read_text(encoding="utf-8"), shown, compose_tags=True)
        doc = docs[0] if docs and isinstance(docs[0], MDict) else MDict()
        merged = doc if merged is None else _merge_top(merged, doc)
    assert merged is not None
    merged = _finalise(merged)
    first = Path(files[0])
    name = project or str(merged.get("name") or first.resolve().parent.name)
    services = merged.get("services") or MDict()
    shown_files = tuple(display(Path(f), root) if root is not None else str(f) for f in files)
    return ComposeProject(name, shown_files, merged, tuple(
        ComposeService(name, str(n), spec if isinstance(spec, MDict) else MDict(), first.parent, services.key_marks.get(n)) for n, spec in services.items()))


def load_compose_dir(directory: str | Path, project: str | None = None) -> ComposeProject:
    return load_compose(find_compose_files(directory), project)


def _set(target: MDict, key: Any, value: Any, source: MDict) -> None:
    target[key] = value
    if key in source.key_marks:
        target.key_marks[key] = source.key_marks[key]


def _merge_top(base: MDict, over: MDict) -> MDict:
    for key, value in over.items():
        if key in _TOP_MAPS and isinstance(base.get(key), MDict) and isinstance(value, MDict):
            section = base[key]
            for name, item in value.items():
                if name in section and isinstance(section[name], MDict) and isinstance(item, MDict):
                    # Inside a service the compose-spec rules apply; other sections merge as plain mappings.
                    section[name] = _merge_map(section[name], item, () if key == "services" else (key, str(name)))
                else:
                    _set(section, name, item, value)
        else:
            _set(base, key, _merge_value(base.get(key), value, (key,)) if key in base else value, over)
    return base


def _merge_map(base: MDict, over: MDict, path: tuple[str, ...]) -> MDict:
    for key, value in over.items():
        sub = (*path, str(key))
        dotted = ".".join(sub)
        if isinstance(value, Reset):
            base.pop(key, None)
        elif isinstance(value, Override) or key not in base or sub in _REPLACE:
            _set(base, key, value, over)
        elif dotted in _MAP_LIKE or (len(sub) == 1 and sub[0] in _MAP_LIKE):
            merged = _as_map(base[key])
            for k, v in _as_map(value).items():
                _set(merged, k, v, _as_map(value))
            _set(base, key, merged, over)
        elif len(sub) == 1 and sub[0] in _BY_TARGET and isinstance(base[key], list) and isinstance(value, list):
            _set(base, key, _merge_by_target(base[key], value), over)
        else:
            _set(base, key, _merge_value(base[key], value, sub), over)
    return base


def _merge_value(base: Any, over: Any, path: tuple[str, ...]) -> Any:
    if isinstance(base, MDict) and isinstance(over, MDict):
        return _merge_map(base, over, path)
    if isinstance(base, list) and isinstance(over, list):
        result = MList(base)
        result.mark = getattr(base, "mark", None)
        result.item_marks = list(base.item_marks) if isinstance(base, MList) else [over_mark(base)] * len(base)
        for index, item in enumerate(over):
            if item not in result:  # docker compose drops exact duplicates when it appends
                result.append(item)
                result.item_marks.append(over.item_marks[index] if isinstance(over, MList) else over_mark(over))
        return result
    return over


def over_mark(node: Any) -> Mark:
    return getattr(node, "mark", None) or Mark("<merged>", 0)


def _as_map(value: Any) -> MDict:
    """An ``environment``-style value as a mapping; list items ``KEY=VALUE`` (or bare ``KEY``) keep their lines."""
    if isinstance(value, MDict):
        return value
    result = MDict()
    result.mark = getattr(value, "mark", None)
    if isinstance(value, list):
        for index, item in enumerate(value):
            key, eq, val = str(item).partition("=")
            result[key] = val if eq else None
            if isinstance(value, MList) and index < len(value.item_marks):
                result.key_marks[key] = value.item_marks[index]
    return result


def _volume_target(item: Any) -> str:
    if isinstance(item, Mapping):
        return str(item.get("target") or item.get("source") or "")
    parts = str(item).split(":")
    return parts[1] if len(parts) > 1 else parts[0]


def _merge_by_target(base: list[Any], over: list[Any]) -> MList:
    result = MList()
    result.mark = getattr(base, "mark", None)
    targets: dict[str, int] = {}
    for source in (base, over):
        for index, item in enumerate(source):
            mark = source.item_marks[index] if isinstance(source, MList) and index < len(source.item_marks) else over_mark(source)
            target = _volume_target(item)
            if target in targets:
                result[targets[target]] = item
                result.item_marks[targets[target]] = mark
            else:
                targets[target] = len(result)
                result.append(item)
                result.item_marks.append(mark)
    return result


def _finalise(node: Any) -> Any:
    """Unwrap ``!override`` values and drop ``!reset`` ones left in the merged document."""
    if isinstance(node, Override):
        return _finalise(node.value)
    if isinstance(node, MDict):
        for key in [k for k, v in node.items() if isinstance(v, Reset)]:
            del node[key]
        for key in node:
            node[key] = _finalise(node[key])
    elif isinstance(node, MList):
        for index, item in enumerate(node):
            node[index] = _finalise(item)
    return node


def _one_shot(service: ComposeService) -> bool:
    """A service says it runs once and exits (a migration, a seed job) by label or extension field."""
    labels = _as_map(service.spec.get("labels") or MDict())
    ext = service.spec.get("x-deploycheck") or {}
    return str(labels.get("deploycheck.one-shot", "")).lower() == "true" or bool(isinstance(ext, Mapping) and ext.get("one-shot"))


def compose_restart(project: ComposeProject) -> list[Finding]:
    """CIS Docker 5.14: every long-running service restarts on failure (one-shot services excepted)."""
    findings: list[Finding] = []
    for svc in project.services:
        if _one_shot(svc):
            continue
        spec = svc.spec
        restart = str(spec.get("restart", "no")).lower()
        policy = ((spec.get("deploy") or {}).get("restart_policy") or {}).get("condition")
        if restart in {"no", "false"} and policy in (None, "none"):
            findings.append(Finding(svc.object, svc.loc("restart") if "restart" in spec else svc.loc(),
                                    f"restart policy is {restart!r}: a crashed or rebooted service stays down", "compose-restart", "medium"))
    return findings


def compose_healthcheck(project: ComposeProject) -> list[Finding]:
    """Every long-running service has a health check (its own, or its image's HEALTHCHECK when built here)."""
    findings: list[Finding] = []
    for svc in project.services:
        if _one_shot(svc):
            continue
        health = svc.spec.get("healthcheck")
        if not isinstance(health, Mapping):
            if not _image_has_healthcheck(svc):
                findings.append(Finding(svc.object, svc.loc(), "no healthcheck: dependants and 'docker compose ps' cannot tell a hung service from a healthy one", "compose-healthcheck", "medium"))
        elif health.get("disable") is True or (isinstance(health.get("test"), list) and health["test"][:1] == ["NONE"]):
            findings.append(Finding(svc.object, svc.loc("healthcheck"), "healthcheck is disabled", "compose-healthcheck", "medium"))
    return findings


def _image_has_healthcheck(svc: ComposeService) -> bool:
    """A service built here inherits the HEALTHCHECK of its Dockerfile, which we can read."""
    build = svc.spec.get("build")
    if build is None:
        return False
    context = build if isinstance(build, str) else str(build.get("context", "."))
    dockerfile = "Dockerfile" if isinstance(build, str) else str(build.get("dockerfile", "Dockerfile"))
    path = (svc.base_dir / context / dockerfile) if not Path(context).is_absolute() else Path(context) / dockerfile
    if not path.is_file():
        return False
    return not dockerfile_healthcheck(read_dockerfile(path))


def compose_resource_limits(project: ComposeProject) -> list[Finding]:
    """Every service has a memory and a CPU limit (``deploy.resources.limits`` or ``mem_limit``/``cpus``)."""
    findings: list[Finding] = []
    for svc in project.services:
        limits = (((svc.spec.get("deploy") or {}).get("resources") or {}).get("limits")) or {}
        missing = []
        if not (limits.get("memory") or svc.spec.get("mem_limit")):
            missing.append("memory")
        if not (limits.get("cpus") or svc.spec.get("cpus")):
            missing.append("cpus")
        if missing:
            findings.append(Finding(svc.object, svc.loc(), f"no {' and no '.join(missing)} limit: one runaway container can starve the host (set deploy.resources.limits)", "compose-limits", "medium"))
    return findings


def compose_privileged(project: ComposeProject) -> list[Finding]:
    """CIS Docker 5.4: no service runs ``privileged``."""
    return [Finding(svc.object, svc.loc("privileged"), "privileged: true gives the container every capability and all host devices (CIS Docker 5.4)", "CIS-5.4", "critical")
            for svc in project.services if svc.spec.get("privileged") is True]


def compose_host_network(project: ComposeProject) -> list[Finding]:
    """CIS Docker 5.9: no service shares the host's network stack."""
    return [Finding(svc.object, svc.loc("network_mode"), "network_mode: host shares the host's network stack (CIS Docker 5.9)", "CIS-5.9", "high")
            for svc in project.services if str(svc.spec.get("network_mode", "")) == "host"]


def compose_docker_socket(project: ComposeProject) -> list[Finding]:
    """CIS Docker 5.31: no service mounts the Docker socket."""
    findings: list[Finding] = []
    for svc in project.services:
        for index, volume in enumerate(svc.spec.get("volumes") or []):
            source = volume.get("source", "") if isinstance(volume, Mapping) else str(volume).split(":")[0]
            if str(source).rstrip("/") in {"/var/run/docker.sock", "/run/docker.sock"}:
                findings.append(Finding(svc.object, svc.loc("volumes", index), f"mounts the Docker socket {source}: root on the host for anyone in the container (CIS Docker 5.31)", "CIS-5.31", "critical"))
    return findings


#: Ports of data stores and brokers that must never be reachable from every interface.
DATA_PORTS = {5432: "PostgreSQL", 3306: "MySQL/MariaDB", 6379: "Redis", 27017: "MongoDB", 9200: "Elasticsearch", 9300: "Elasticsearch",
              11211: "Memcached", 5672: "RabbitMQ", 15672: "RabbitMQ management", 9042: "Cassandra", 2181: "ZooKeeper", 9092: "Kafka",
              8086: "InfluxDB", 5984: "CouchDB", 7474: "Neo4j", 8123: "ClickHouse", 9000: "ClickHouse/MinIO", 2379: "etcd"}


@dataclass(frozen=True)
class PublishedPort:
    host_ip: str
    published: str
    target: int | None
    protocol: str

    def __str__(self) -> str:
        return ":".join(p for p in (self.host_ip or "0.0.0.0", self.published, str(self.target)) if p) + f"/{self.protocol}"


def parse_port(item: Any) -> PublishedPort:
    """A ``ports`` entry, short (``"127.0.0.1:5432:5432/tcp"``, ``"[::1]:80:80"``, ``5432``) or long syntax."""
    if isinstance(item, Mapping):
        target = str(item.get("target"))
        return PublishedPort(str(item.get("host_ip") or ""), str(item.get("published") or ""), int(target) if target.isdigit() else None, str(item.get("protocol") or "tcp"))
    text = str(item)
    text, _, protocol = text.partition("/")
    host_ip = ""
    if text.startswith("["):
        host_ip, _, text = text[1:].partition("]")
        text = text.lstrip(":")
    parts = text.split(":")
    if len(parts) == 3:
        host_ip, published, target = parts
    elif len(parts) == 2:
        published, target = parts
    else:
        published, target = "", parts[0]
    first = target.split("-")[0]
    return PublishedPort(host_ip, published, int(first) if first.isdigit() else None, protocol or "tcp")


def _loopback(host_ip: str) -> bool:
    if host_ip == "localhost":
        return True
    try:
        return ipaddress.ip_address(host_ip).is_loopback
    except ValueError:
        return False


def compose_data_ports(project: ComposeProject) -> list[Finding]:
    """Database and cache ports are published on 127.0.0.1 only (or not at all: ``expose`` suffices)."""
    findings: list[Finding] = []
    for svc in project.services:
        for index, item in enumerate(svc.spec.get("ports") or []):
            port = parse_port(item)
            published = int(port.published.split("-")[0]) if port.published.split("-")[0].isdigit() else None
            what = DATA_PORTS.get(port.target or -1) or DATA_PORTS.get(published or -1)
            if what and not _loopback(port.host_ip):
                findings.append(Finding(svc.object, svc.loc("ports", index),
                                        f"{what} port {port} is published on all interfaces: bind it to 127.0.0.1 or drop it", "compose-data-port", "high"))
    return findings


#: Images that keep data, and where they keep it.
STATEFUL_IMAGES = {"postgres": "/var/lib/postgresql/data", "postgis": "/var/lib/postgresql/data", "mysql": "/var/lib/mysql", "mariadb": "/var/lib/mysql",
                   "redis": "/data", "valkey": "/data", "mongo": "/data/db", "elasticsearch": "/usr/share/elasticsearch/data",
                   "opensearch": "/usr/share/opensearch/data", "rabbitmq": "/var/lib/rabbitmq", "minio": "/data", "clickhouse-server": "/var/lib/clickhouse",
                   "cassandra": "/var/lib/cassandra", "influxdb": "/var/lib/influxdb2", "zookeeper": "/data", "kafka": "/var/lib/kafka/data"}


def compose_named_volumes(project: ComposeProject) -> list[Finding]:
    """Stateful services (postgres, mysql, redis, ...) keep their data directory on a named volume."""
    findings: list[Finding] = []
    named = set((project.doc.get("volumes") or {}).keys())
    for svc in project.services:
        image = svc.spec.get("image")
        if not image:
            continue
        data_dir = STATEFUL_IMAGES.get(ImageRef.parse(str(image)).short_name)
        if data_dir is None:
            continue
        found: str | None = None
        for volume in svc.spec.get("volumes") or []:
            if isinstance(volume, Mapping):
                vtype, source, target = str(volume.get("type", "volume")), str(volume.get("source") or ""), str(volume.get("target") or "")
            else:
                parts = str(volume).split(":")
                source, target = (parts[0], parts[1]) if len(parts) > 1 else ("", parts[0])
                vtype = "bind" if source.startswith(("/", ".", "~")) else "volume"
            if target.rstrip("/") == data_dir or data_dir.startswith(target.rstrip("/") + "/"):
                found = "named" if vtype == "volume" and source and (source in named or not named) else ("bind" if vtype == "bind" else "anonymous")
        if found != "named":
            how = {None: "nothing is mounted there", "bind": "a bind mount is there", "anonymous": "an anonymous volume is there"}[found]
            findings.append(Finding(svc.object, svc.loc("volumes") if "volumes" in svc.spec else svc.loc(),
                                    f"stateful image {image} keeps its data in {data_dir} but {how}: mount a named volume", "compose-volume", "high" if found is None else "medium"))
    return findings


def compose_env_secrets(project: ComposeProject) -> list[Finding]:
    """No literal credential in ``environment``: ``${VAR}`` from the environment, or ``secrets:``."""
    findings: list[Finding] = []
    for svc in project.services:
        env = _as_map(svc.spec.get("environment") or MDict())
        for name, value in env.items():
            if looks_secret(str(name)) and is_literal_secret(value):
                mark = env.key_marks.get(name)
                findings.append(Finding(svc.object, str(mark) if mark else svc.loc("environment"),
                                        f"environment {name} is a literal secret ({redact(value)}): use ${{{name}}} or a Compose secret", "compose-secret", "high"))
    return findings


def compose_images(project: ComposeProject) -> list[Finding]:
    """Service images are pinned: a tag that is not ``latest`` (a digest is better: info)."""
    findings: list[Finding] = []
    for svc in project.services:
        image = svc.spec.get("image")
        if image is None or svc.spec.get("build") is not None:
            continue  # an image built here is named by the build, not pulled
        for rule, severity, message in image_problems(substitute(str(image), {})):
            findings.append(Finding(svc.object, svc.loc("image"), message, rule, severity))
    return findings


def compose_registries(project: ComposeProject, allowed: Sequence[str]) -> list[Finding]:
    """Every pulled service image comes from one of ``allowed``."""
    findings: list[Finding] = []
    for svc in project.services:
        image = svc.spec.get("image")
        if image is None or svc.spec.get("build") is not None:
            continue  # an image built here is named by the build, not pulled
        problem = registry_problem(substitute(str(image), {}), allowed)
        if problem:
            findings.append(Finding(svc.object, svc.loc("image"), problem, "compose-registry", "medium"))
    return findings


def compose_logging(project: ComposeProject) -> list[Finding]:
    """Container logs are bounded: ``logging.options.max-size`` for json-file (the default driver)."""
    findings: list[Finding] = []
    for svc in project.services:
        logging_ = svc.spec.get("logging") or {}
        driver = str(logging_.get("driver", "json-file"))
        # The local driver rotates by default and remote drivers keep nothing on the host.
        if driver == "json-file" and not (logging_.get("options") or {}).get("max-size"):
            findings.append(Finding(svc.object, svc.loc("logging") if logging_ else svc.loc(), "json-file logs without options.max-size grow until the disk is full", "compose-logging", "medium"))
    return findings


def compose_findings(project: ComposeProject) -> list[Finding]:
    """Every Compose rule."""
    rules: list[Callable[[ComposeProject], list[Finding]]] = [
        compose_restart, compose_healthcheck, compose_resource_limits, compose_privileged, compose_host_network, compose_docker_socket, compose_data_ports,
        compose_named_volumes, compose_env_secrets, compose_images, compose_logging,
    ]
    return [f for rule in rules for f in rule(project)]



def target_project(files: Any) -> ComposeProject:
    """The Compose project of a ``files`` target: ``compose_files`` merged in order, else what
    ``docker compose`` reads in its folder (``compose.yaml`` and ``compose.override.yaml``, ...).
    Raises ``FileNotFoundError`` when there is none; a file that does not parse is an error."""
    root = Path(files.path)
    paths = globbed(files, "compose_files") or find_compose_files(root)
    try:
        return load_compose(paths, root=root)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise TargetError(f"{files.label}: cannot read the Compose files: {str(exc).splitlines()[0] if str(exc) else exc!r}") from None
