"""Dockerfiles: every ``files`` target's Dockerfiles (``dockerfiles``, paths or globs; default ``Dockerfile``).

Each Dockerfile is parsed as BuildKit reads it (directives, continuations, here-documents,
multi-stage builds) and judged against the rules hadolint and the CIS Docker Benchmark
(section 4, container images) set for production images: an unprivileged user, a health check,
pinned base images, no secrets in the image, COPY for local files, no package caches, no
compiler toolchain in the shipped stage.  Nothing is built or pulled.  A finding names the stage
and the ``file:line`` to change; a secret's value is never shown.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_deploycheck import not_applicable
from pytest_deploycheck.lifecycle import support_left
from pytest_deploycheck.targets.container_common import Finding, judge
from pytest_deploycheck.targets.dockerfile import (
    Dockerfile,
    dockerfile_add,
    dockerfile_base_images,
    dockerfile_healthcheck,
    dockerfile_package_caches,
    dockerfile_secrets,
    dockerfile_signals,
    dockerfile_toolchain,
    dockerfile_user,
    final_base,
    start_instruction,
    target_dockerfiles,
)
from pytest_deploycheck.targets.runtimes import RUNTIMES_AS_OF, runtime_of

pytestmark = pytest.mark.section("dockerfile", "Dockerfiles")


def _dockerfiles(files) -> list[Dockerfile]:
    found = target_dockerfiles(files)
    if not found:
        not_applicable(f"{files.name}: no Dockerfile in {files.path} (name them in files.{files.name}.dockerfiles)", unexamined=True)
    return found


@pytest.mark.check("dock-01", "Image runs as a non-root user", severity="high",
                   refs=("hadolint DL3002", "CIS Docker Benchmark 4.1"),
                   answers=("non-root user in dockerfile", "container does not run as root", "dockerfile user directive",
                            "containers run as non-root", "docker|dockerfile|container|image|pod non_root|unprivileged|as_root|user|root",
                            "run_as_non_root|runasnonroot|security context"))
def test_non_root_user(files, evidence):
    """A process that is root inside the container is one kernel bug or one mounted path away
    from root on the host.  Passes when the final stage (or the stage it is built on) sets a
    ``USER`` other than root/0, or starts from a ``:nonroot`` base image; fails when it runs as
    root by default or by an explicit ``USER root``."""
    found = _dockerfiles(files)
    judge(files, evidence, [f for df in found for f in dockerfile_user(df)], "a USER other than root in the final stage",
          examined=[df.path for df in found])


@pytest.mark.check("dock-02", "Image declares a HEALTHCHECK", severity="medium",
                   refs=("CIS Docker Benchmark 4.6",),
                   answers=("dockerfile healthcheck", "container health check defined", "docker healthcheck instruction",
                            "docker|dockerfile|container|image health_check|healthcheck",
                            "liveness|readiness probe kubernetes|pod|deployment|container"),
                   answers_unless=("kubernetes|k8s|helm|pod|pods", "liveness|readiness"))  # pods' probes are k8s-02's
def test_healthcheck(files, evidence):
    """Without a health check Docker reports a hung container as running, restart policies
    never fire and dependants start against it.  Passes when the final stage (or its parent
    stage) declares ``HEALTHCHECK CMD ...``; fails on none or ``HEALTHCHECK NONE``.  Not
    applicable where the inventory says the image runs only under orchestrator probes
    (``orchestrator_probes: true``): Kubernetes ignores HEALTHCHECK and uses its own probes."""
    found = _dockerfiles(files)
    if files.setting("orchestrator_probes"):
        not_applicable(f"{files.name}: orchestrator_probes is true: the orchestrator's liveness and readiness probes judge health, not HEALTHCHECK")
    judge(files, evidence, [f for df in found for f in dockerfile_healthcheck(df)], "HEALTHCHECK CMD ... in the final stage",
          examined=[df.path for df in found])


@pytest.mark.check("dock-03", "Base images pinned", severity="medium",
                   refs=("hadolint DL3006", "hadolint DL3007", "CIS Docker Benchmark 4.2"),
                   answers=("base image pinned", "no latest tag", "pinned image versions", "base image version fixed",
                            "base image|images pinned|pin|version|tag|digest",
                            "dockerfile|docker base|from image"))
def test_base_images_pinned(files, evidence):
    """A ``FROM`` without a tag, or with ``latest``, builds from whatever the registry holds that
    day: a rebuild of the same commit can ship a different OS.  Passes when every base image
    names a version tag or a digest (``ARG`` defaults are resolved); fails on a missing tag or
    ``latest``.  A tag without a digest passes with advice in the evidence: a digest also makes
    the build reproducible when a tag is moved."""
    found = _dockerfiles(files)
    judge(files, evidence, [f for df in found for f in dockerfile_base_images(df)], "every FROM pinned to a version tag, better a digest (@sha256:...)",
          examined=[df.path for df in found], advice=("image-digest",))


@pytest.mark.check("dock-04", "No secrets in ENV or ARG", severity="high",
                   refs=("CIS Docker Benchmark 4.10", "BuildKit check SecretsUsedInArgOrEnv"),
                   answers=("no secrets in docker image", "no credentials in dockerfile", "build secrets not baked into image",
                            "secret|secrets|credential|credentials|password|key|keys baked|bake|embedded|embed image|images|container|dockerfile",
                            "secret|secrets|credential|credentials|password|passwords container|docker? image|images"))
def test_no_secrets_in_image(files, evidence):
    """``ENV`` and ``ARG`` values stay in the image's history and metadata: anyone who can pull
    the image reads them.  Passes when no ENV/ARG whose name says credential (``*_PASSWORD``,
    ``*_TOKEN``, ``*_SECRET``, ``API_KEY``...) holds a literal value; ``ARG NAME`` without a
    default, ``${VAR}`` and ``*_FILE``/``*_URL`` pointers are fine.  Use ``RUN --mount=type=secret``."""
    found = _dockerfiles(files)
    judge(files, evidence, [f for df in found for f in dockerfile_secrets(df)], "credentials passed as build secrets (RUN --mount=type=secret), never ENV/ARG values",
          examined=[df.path for df in found])


@pytest.mark.check("dock-05", "COPY rather than ADD for local files", severity="low",
                   refs=("hadolint DL3020", "CIS Docker Benchmark 4.9"),
                   answers=("copy instead of add", "dockerfile uses copy", "no add for local files"))
def test_copy_not_add(files, evidence):
    """``ADD`` also unpacks archives and fetches URLs, so a local ``ADD`` can do more than it
    says.  Passes when ``ADD`` is used only for remote URLs, git sources and tar archives it is
    meant to unpack; fails on ``ADD`` of local files or folders."""
    found = _dockerfiles(files)
    judge(files, evidence, [f for df in found for f in dockerfile_add(df)], "COPY for local files; ADD only for URLs and archives",
          examined=[df.path for df in found])


@pytest.mark.check("dock-06", "Package manager caches cleaned", severity="low",
                   refs=("hadolint DL3009", "hadolint DL3019", "hadolint DL3042"),
                   answers=("package cache cleaned", "image size optimized", "optimized docker image", "minimal image layers"))
def test_package_caches(files, evidence):
    """Package indexes and download caches left in a layer make every pull larger and keep stale
    metadata in the image.  Passes when each ``apt-get install`` removes ``/var/lib/apt/lists``
    in the same RUN, ``apk add`` uses ``--no-cache`` and ``pip install`` ``--no-cache-dir`` (or
    ``PIP_NO_CACHE_DIR``), or a BuildKit cache mount keeps the cache out of the layer."""
    found = _dockerfiles(files)
    judge(files, evidence, [f for df in found for f in dockerfile_package_caches(df)], "no package cache left in any layer",
          examined=[df.path for df in found])


@pytest.mark.check("dock-07", "Compiler toolchain only in a build stage", severity="info",
                   refs=("Docker docs: multi-stage builds",),
                   answers=("multi-stage build", "build tools not in runtime image", "small runtime image"))
def test_multi_stage(files, evidence):
    """Compilers and SDKs in the shipped image add size and tools an intruder can use.  Passes
    when the final stage neither installs a toolchain (gcc, build-essential, a JDK, Go, Rust...)
    nor builds from source (go build, mvn, cargo build, npm ci without --omit=dev) and is not
    based on an SDK image; information only: build in an earlier stage and COPY --from the artefact."""
    found = _dockerfiles(files)
    judge(files, evidence, [f for df in found for f in dockerfile_toolchain(df)], "the toolchain in an earlier stage; the final stage copies the artefact",
          examined=[df.path for df in found])


@pytest.mark.check("dock-08", "Runtime of the final base image still supported", severity="high",
                   refs=("Node.js release schedule", "Python Developer's Guide: status of Python versions", "PHP: supported versions",
                         "Ruby: branches maintenance", "Go release policy", "CIS Docker Benchmark 4.3"),
                   answers=("node|nodejs|python|ruby|php|golang|runtime lts|supported|maintained|eol|end_of_life|current|version|versions",
                            "runtime|language version|versions supported|maintained|current|upgraded|eol|end_of_life",
                            "no eol|end_of_life runtime|runtimes|language|languages|node|python|ruby|php"),
                   answers_unless=("database|postgres|mysql|redis|kernel|os|distribution|debian|ubuntu|alpine", "dependency|dependencies|package|packages"))
def test_runtime_supported(files, evidence):
    """A runtime past its end of life gets no more security fixes: a vulnerability found in Node.js
    16 or Python 3.8 after that date stays open in every container built on it.  Reads the image
    the final stage of each Dockerfile starts from (following ``FROM <stage>`` and ``ARG``
    defaults); for the official Node.js, Python, Ruby, PHP and Go images (or images of the same
    name in another registry) the tag's release series must have at least ``runtime_eol_min_days``
    of upstream support left.  A tag that names no series (``python:latest``, ``node``) or an
    image of another kind (distroless, a distribution) cannot be judged here."""
    min_days = files.threshold("runtime_eol_min_days")
    findings: list[Finding] = []
    support: dict[str, str] = {}
    unjudged: list[str] = []
    for df in _dockerfiles(files):
        base = final_base(df)
        runtime = runtime_of(base[0]) if base else None
        if base is None or runtime is None or runtime[1] is None:
            unjudged.append(f"{df.path}: {base[0] if base else 'no FROM'}" + ("" if runtime is None else " (its tag names no release series)"))
            continue
        product, series, table = runtime
        observed, ok, _ = support_left(product, series, table, RUNTIMES_AS_OF, min_days)
        support[df.path] = observed
        if not ok:
            findings.append(Finding(f"Dockerfile/{df.path}", df.loc(base[1]), f"FROM {base[0]}: {observed}", "runtime-eol", "high"))
    judged = list(support)
    evidence.record(support=support, not_judged=unjudged)
    if not judged:
        not_applicable(f"{files.name}: no final base image of a runtime whose release can be read ({'; '.join(unjudged[:3])})", unexamined=True)
    judge(files, evidence, findings, f"a runtime release with at least {min_days} days of upstream support left", examined=judged)


def _context_reader(files, df: Dockerfile):
    """Reads a build-context file named by a COPY source: relative to the target's folder, else to
    the Dockerfile's own folder; at most 64 KiB; None when it is not a regular file there."""
    root = Path(files.path)

    def read(source: str) -> str | None:
        for base in (root, (root / df.path).parent):
            path = base / source.lstrip("/")
            if path.is_file():
                with path.open("rb") as handle:
                    return handle.read(64 * 1024).decode("utf-8", "replace")
        return None

    return read


@pytest.mark.check("dock-09", "The app receives the stop signal", severity="medium",
                   refs=("hadolint DL3025", "Docker docs: ENTRYPOINT, shell and exec form", "Kubernetes: termination of Pods"),
                   answers=("graceful|clean shutdown|stop|termination|exit", "sigterm handl|handled|received|receiv|forwarded|trap|catch|graceful?",
                            "signal|signals handl|handling|forward|forwarded|propagat|received", "exec form cmd|entrypoint",
                            "json notation|syntax|array|form cmd|entrypoint", "pid_1|pid1 signal|signals|init|zombie|zombies",
                            "tini|dumb_init init? process?"),
                   answers_unless=("database|postgres|mysql|redis|worker|workers|celery|sidekiq|queue|job|jobs|consumer|consumers",))
def test_stop_signal(files, evidence):
    """``docker stop``, a Compose redeploy and Kubernetes all stop a container with SIGTERM and
    kill it when the grace period ends: an app that never sees the signal drops its in-flight
    requests every deploy.  A shell-form ``CMD python app.py`` runs under ``/bin/sh -c``, which
    is PID 1 and does not pass the signal on.  Passes when the final stage starts the app in exec
    form (``CMD ["python", "app.py"]``) or with ``exec``, and an entrypoint shell script copied
    from the build context ends with ``exec``; fails naming the instruction.  Where the
    Dockerfile leaves the start command to the base image it cannot be judged here."""
    examined: list[str] = []
    inherited: list[str] = []
    findings: list[Finding] = []
    for df in _dockerfiles(files):
        if start_instruction(df) is None:
            inherited.append(df.path)
            continue
        examined.append(df.path)
        findings += dockerfile_signals(df, _context_reader(files, df))
    evidence.record(start_command_from_base_image=inherited)
    if not examined:
        not_applicable(f"{files.name}: no CMD or ENTRYPOINT in {', '.join(inherited)}: the base image's own start command is not read", unexamined=True)
    judge(files, evidence, findings, 'the app as PID 1: CMD/ENTRYPOINT as a JSON array (["python", "app.py"]) or started with exec, '
          'and an entrypoint script that ends with exec "$@"', examined=examined)
