"""The ``files`` kind: a local folder with the deployed application's source or configuration."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

from pytest_deploycheck.outcomes import TargetError
from pytest_deploycheck.targets.base import Field, TargetHandle, TargetKind


class FilesTarget(TargetHandle):
    """A local folder holding the deployed application's source or configuration."""

    @property
    def path(self) -> Path:
        return Path(str(self.target.spec["path"]))

    def regular_files(self, names: Iterable[str]) -> list[tuple[str, Path]]:
        """``(name, path)`` of those of ``names`` (relative to the folder) that exist as regular
        files.  A name that exists as something else (a FIFO, a device, a folder) or that this
        user cannot read ends the check as an error: could not look is never "missing"."""
        found: list[tuple[str, Path]] = []
        for name in names:
            path = self.path / name
            try:
                info = path.stat()
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise TargetError(f"{self.label}: {name}: cannot be examined ({exc.strerror or exc})") from None
            if not stat.S_ISREG(info.st_mode):
                kind = "a named pipe (FIFO)" if stat.S_ISFIFO(info.st_mode) else "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
                raise TargetError(f"{self.label}: {name} is {kind}; it was not read")
            if not os.access(path, os.R_OK):
                raise TargetError(f"{self.label}: {name} exists but cannot be read by this user (permission denied)")
            found.append((name, path))
        return found

    def find(self, *names: str) -> Path | None:
        """The first of ``names`` (case-insensitive, at the top or under docs/) that exists."""
        wanted = {n.lower() for n in names}
        for folder in (self.path, self.path / "docs", self.path / "doc"):
            if folder.is_dir():
                for entry in sorted(folder.iterdir()):
                    if entry.name.lower() in wanted:
                        return entry
        return None



FIELDS: dict[str, Field] = {
    "path": Field("path", "local directory holding the deployed application's source or configuration", required=True, must_exist=True),
    "env_files": Field("list[str]", "environment files, relative to path (default: .env, .env.production)"),
    "config_files": Field("list[str]", "YAML, JSON or Java .properties configuration files, relative to path, judged like env files (auth.jwt_secret and spring.profiles.active are AUTH_JWT_SECRET and SPRING_PROFILES_ACTIVE)"),
    "dockerfiles": Field("list[str]", "Dockerfiles, paths or globs relative to path (default: Dockerfile)"),
    "compose_files": Field("list[str]", "Compose files, paths or globs relative to path, merged in order like docker compose -f (default: compose.yaml or docker-compose.yml and its .override)"),
    "manifests": Field("list[str]", "Kubernetes manifests, paths or globs relative to path: YAML or JSON, multi-document, helm template or kustomize build output"),
    "kubernetes_version": Field("str", "Kubernetes version the manifests must validate against, e.g. 1.30 (default: the newest kubernetes-validate knows)"),
    "secret_scan_ignore": Field("list[str]", "globs of repository paths the secret scan does not judge (test fixtures holding keys made for the tests)"),
    "image_registries": Field("list[str]", "the registries (or registry/path prefixes: ghcr.io/acme) the Compose services' and "
                              "manifests' images may come from; docker.io/library is Docker Hub's official images"),
    "orchestrator_probes": Field("bool", "true: the images run only under orchestrator probes (Kubernetes), so a Dockerfile HEALTHCHECK is not required"),
}


KIND = TargetKind(
    name="files", fixture="files", handle=FilesTarget, fields=FIELDS,
    summary="""A ``files`` target: a local folder with the deployed application's source or configuration.""",
)
