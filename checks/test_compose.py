"""Docker Compose: the merged configuration of every ``files`` target's Compose files.

The files named in ``compose_files`` (paths or globs, merged in order like ``docker compose -f a
-f b``; default: what ``docker compose`` reads in the folder, ``compose.yaml`` or
``docker-compose.yml`` and its ``.override``) are merged by Compose's rules, and each service of
the result is judged: restart policy, health check, resource limits, privileges (CIS Docker
Benchmark section 5), exposure of data stores, volumes for data, secrets, image pins and log
size.  The output of ``docker compose config`` can be named instead: then the checks judge
exactly what Compose would run.  Nothing is started or pulled.

A service that runs once and exits (a migration) is marked ``labels: {deploycheck.one-shot:
"true"}`` (or ``x-deploycheck: {one-shot: true}``) and needs no restart policy or health check.
"""

from __future__ import annotations

import pytest

from pytest_deploycheck import not_applicable
from pytest_deploycheck.targets.compose import (
    ComposeProject,
    compose_data_ports,
    compose_docker_socket,
    compose_env_secrets,
    compose_healthcheck,
    compose_host_network,
    compose_images,
    compose_logging,
    compose_named_volumes,
    compose_privileged,
    compose_registries,
    compose_resource_limits,
    compose_restart,
    target_project,
)
from pytest_deploycheck.targets.container_common import judge

#: Words only a Kubernetes item uses: such an item is answered by the kubernetes checks, never by
#: Compose's ("Memory limits set (Docker/K8s)" names both platforms and keeps both).
KUBERNETES = "pod|pods|helm|kubectl|configmap|configmaps|statefulset|daemonset"

pytestmark = pytest.mark.section("compose", "Docker Compose")


def _project(files, evidence) -> ComposeProject:
    try:
        project = target_project(files)
    except FileNotFoundError:
        not_applicable(f"{files.name}: no Compose file in {files.path} (name them in files.{files.name}.compose_files)", unexamined=True)
    evidence.record(project=project.name, compose_files=[str(f) for f in project.files])
    return project


def _services(project: ComposeProject) -> list[str]:
    return [s.object for s in project.services]


@pytest.mark.check("comp-01", "Restart policy on every long-running service", severity="medium",
                   refs=("CIS Docker Benchmark 5.14", "Compose spec: restart"),
                   answers=("restart always|unless_stopped", "compose restart policy", "containers restart automatically", "restart unless-stopped",
                            "services restart on failure", "restart_policy|restart_policies unless|always|stopped|on|failure?",
                            "restart unless stopped|always", "container|docker restart automatic|crash|policy"),
                   answers_unless=(KUBERNETES,))
def test_restart_policy(files, evidence):
    """With the default ``restart: "no"`` a crashed service, or every service after a host
    reboot, stays down until someone notices.  Passes when each long-running service sets
    ``restart`` (``unless-stopped``, ``always``, ``on-failure``) or ``deploy.restart_policy``."""
    project = _project(files, evidence)
    judge(files, evidence, compose_restart(project), "restart: unless-stopped (or always / on-failure) on every long-running service",
          examined=_services(project))


@pytest.mark.check("comp-02", "Health check on every long-running service", severity="medium",
                   refs=("Compose spec: healthcheck", "CIS Docker Benchmark 4.6"),
                   answers=("compose healthcheck", "docker compose health checks", "service health checks defined",
                            "depends_on service_healthy",
                            "docker|container|compose|service health_check|healthcheck",
                            "liveness|readiness probe kubernetes|pod|deployment|container"),
                   # An item that names Kubernetes asks about pods' probes (k8s-02), not Compose.
                   answers_unless=(KUBERNETES, "liveness|readiness", "dockerfile has|declares|contains|includes|defines healthcheck|health_check",
                                   "kubernetes|k8s|helm|pod|pods"))
def test_healthcheck(files, evidence):
    """Without a health check ``docker compose ps`` shows a hung service as running and
    ``depends_on: condition: service_healthy`` cannot wait for it.  Passes when each
    long-running service has an enabled ``healthcheck``, or is built here from a Dockerfile
    whose final stage declares ``HEALTHCHECK``; fails on none or ``disable: true``."""
    project = _project(files, evidence)
    judge(files, evidence, compose_healthcheck(project), "an enabled healthcheck on every long-running service", examined=_services(project))


@pytest.mark.check("comp-03", "Memory and CPU limits on every service", severity="medium",
                   refs=("CIS Docker Benchmark 5.10", "CIS Docker Benchmark 5.11"),
                   answers=("container memory limit", "container cpu limit", "request|requests limit|limits container|containers|service|services|every|all", "compose resource limits", "deploy resources limits",
                            "resource_limit|resource_limits|resource_requests docker? kubernetes? container? pod?",
                            "container|pod|docker memory|cpu limit|request|quota",
                            "cpu memory request|limit set|defined|configured|specified?"),
                   # "CPU, memory within limits on all hosts" is usage (os-10, os-11), not a container's limit
                   answers_unless=("php|opcache", KUBERNETES, "within|usage|used|utilization|utilisation|host|hosts"))
def test_resource_limits(files, evidence):
    """A container without limits can take all of the host's memory (the kernel then kills
    whichever process it picks, often the database) or starve its neighbours of CPU.  Passes
    when every service sets a memory and a CPU limit (``deploy.resources.limits`` or
    ``mem_limit``/``cpus``)."""
    project = _project(files, evidence)
    judge(files, evidence, compose_resource_limits(project), "deploy.resources.limits.memory and .cpus on every service", examined=_services(project))


@pytest.mark.check("comp-04", "No privileged containers", severity="critical",
                   refs=("CIS Docker Benchmark 5.4",),
                   answers=("no privileged containers", "privileged container|containers|service|services no|none|not|disallowed|forbidden", "privileged mode disabled", "containers not privileged"),
                   answers_unless=(KUBERNETES,))
def test_not_privileged(files, evidence):
    """``privileged: true`` hands the container every capability and every host device: it is
    root on the host.  Passes when no service sets it."""
    project = _project(files, evidence)
    judge(files, evidence, compose_privileged(project), "no service with privileged: true", examined=_services(project))


@pytest.mark.check("comp-05", "No host network mode", severity="high",
                   refs=("CIS Docker Benchmark 5.9",),
                   answers=("no host networking", "network_mode host not used", "containers isolated network"),
                   answers_unless=(KUBERNETES,))
def test_no_host_network(files, evidence):
    """``network_mode: host`` puts the container on the host's interfaces: every port it opens
    is open on the host, past Docker's port mapping and firewall rules.  Passes when no service uses it."""
    project = _project(files, evidence)
    judge(files, evidence, compose_host_network(project), "no service with network_mode: host", examined=_services(project))


@pytest.mark.check("comp-06", "Docker socket not mounted", severity="critical",
                   refs=("CIS Docker Benchmark 5.31",),
                   answers=("docker socket not mounted", "no docker.sock in containers", "docker socket not exposed"),
                   answers_unless=(KUBERNETES,))
def test_no_docker_socket(files, evidence):
    """Whoever reaches ``/var/run/docker.sock`` can start a privileged container: mounting it
    makes the container root on the host.  Passes when no service mounts it."""
    project = _project(files, evidence)
    judge(files, evidence, compose_docker_socket(project), "no service mounting /var/run/docker.sock", examined=_services(project))


@pytest.mark.check("comp-07", "Database and cache ports not published on all interfaces", severity="high",
                   refs=("CIS Docker Benchmark 5.13", "Docker docs: published ports bypass the host firewall"),
                   answers=("database port? exposed", "redis exposed publicly?", "ports bound to localhost", "internal services not published",
                            "database|postgres|mysql|redis|mongo port not publish|published host?"),
                   answers_unless=(KUBERNETES,))
def test_data_ports(files, evidence):
    """A published port without an address listens on every interface, and Docker's NAT rules
    let it past ufw/firewalld.  Passes when no data store's port (PostgreSQL, MySQL, Redis,
    MongoDB, Elasticsearch, RabbitMQ, Kafka...) is published except on 127.0.0.1/::1;
    other services reach it over the Compose network without publishing it at all."""
    project = _project(files, evidence)
    judge(files, evidence, compose_data_ports(project), "data-store ports unpublished or bound to 127.0.0.1", examined=_services(project))


@pytest.mark.check("comp-08", "Named volumes for stateful services", severity="high",
                   refs=("Docker docs: volumes", "Compose spec: volumes"),
                   answers=("named volumes for data", "database data persisted", "persistent volumes for containers",
                            "data survives container recreation", "persistent_volume|pvc|named volume|volumes",
                            "volume mount|mounts|claim|persist|named|storage_class", "storage class"),
                   answers_unless=(KUBERNETES,))
def test_named_volumes(files, evidence):
    """A database whose data directory is not on a volume loses its data with the container;
    an anonymous volume is orphaned by ``docker compose down``/``up --renew-anon-volumes``.
    Passes when every stateful image (postgres, mysql, mariadb, redis, mongo, elasticsearch,
    rabbitmq...) mounts a named volume at its data directory; a bind mount or an anonymous
    volume fails."""
    project = _project(files, evidence)
    judge(files, evidence, compose_named_volumes(project), "a named volume at each stateful service's data directory", examined=_services(project))


@pytest.mark.check("comp-09", "No literal secrets in service environment", severity="high",
                   refs=("Compose spec: secrets", "Docker docs: manage sensitive data with secrets"),
                   answers=("no secrets in compose file", "compose secrets from environment", "no hardcoded passwords in docker-compose",
                            "kubernetes|docker|container|compose|pod secret|secrets mount|store|object?",
                            "secret management|manager|vault|store|sealed|external", "vault secret|secrets?"),
                   answers_unless=(KUBERNETES, "kubernetes secret|secrets", "image|images|baked|bake|dockerfile", "backup|backups|backed"))  # k8s-13's, dock-04's
def test_env_secrets(files, evidence):
    """A password written into a Compose file is in the repository, in every clone and in
    ``docker inspect``.  Passes when every credential-named variable (``*_PASSWORD``,
    ``*_TOKEN``, ``*_SECRET``, ``API_KEY``...) takes its value from ``${VAR}`` or is a
    ``*_FILE`` pointer to a Compose secret; fails on a literal value (never shown)."""
    project = _project(files, evidence)
    judge(files, evidence, compose_env_secrets(project), "credentials from ${VAR} or Compose secrets, never literal", examined=_services(project))


@pytest.mark.check("comp-10", "Service images pinned", severity="medium",
                   refs=("hadolint DL3006", "hadolint DL3007"),
                   answers=("image|images tag|tags immutable|unique|sha|commit|digest", "compose image tags pinned", "no latest tag in compose", "image versions fixed",
                            "docker|container image tag|tagged|pin|pinned|digest|version", "image digest|tag pinned|pin",
                            "no latest tag|tags|image|images"),
                   answers_unless=(KUBERNETES,))
def test_images_pinned(files, evidence):
    """``image: postgres`` or ``:latest`` pulls whatever the registry holds on the day of the
    deployment.  Passes when every pulled image names a version tag or a digest (a tag alone
    passes with advice in the evidence); images built here are named by their build."""
    project = _project(files, evidence)
    judge(files, evidence, compose_images(project), "every image pinned to a version tag, better a digest", examined=_services(project),
          advice=("image-digest",))


@pytest.mark.check("comp-11", "Container log size limited", severity="medium",
                   refs=("Docker docs: json-file logging driver (max-size, max-file)",),
                   answers=("log rotation for containers", "docker log size limit", "container logs bounded"),
                   answers_unless=(KUBERNETES,))
def test_log_size(files, evidence):
    """The default ``json-file`` driver keeps every line a container ever wrote: a chatty service
    fills the disk.  Passes when every service using json-file sets ``logging.options.max-size``,
    or uses a driver that rotates (``local``) or ships elsewhere."""
    project = _project(files, evidence)
    judge(files, evidence, compose_logging(project), "logging.options.max-size (and max-file) on json-file services", examined=_services(project))


@pytest.mark.check("comp-12", "Service images come from the allowed registries", severity="medium",
                   refs=("NIST SP 800-190 4.1.5: use of untrusted images", "CIS Docker Benchmark 4.2: use trusted base images"),
                   answers=("image|images|container from|pulled our|private|internal|trusted|approved|allowed registry|registries",
                            "registry|registries allow|allowed|allowlist|approved|private|internal|trusted only?",
                            "trusted|approved|private|internal image|images|registry|registries"),
                   answers_unless=(KUBERNETES, "scan|scanned|vulnerab", "mirror|cache"))
def test_registries(files, evidence):
    """An image pulled from wherever its name points (Docker Hub, by default) runs whatever its
    publisher pushed last, outside the scans and signatures of the team's own registry.  Passes
    when every pulled service image comes from one of ``image_registries`` (a registry, or a
    registry/path prefix such as ``ghcr.io/acme``; ``docker.io/library`` for Docker Hub's official
    images); images built here are named by their build.  Not applicable without
    ``image_registries``."""
    allowed = files.setting("image_registries")
    if not allowed:
        not_applicable(f"{files.name}: no image_registries in the inventory (files.{files.name}.image_registries: the registries "
                       "images may come from)", unexamined=True)
    project = _project(files, evidence)
    judge(files, evidence, compose_registries(project, allowed), f"every image from {', '.join(allowed)}", examined=_services(project))
