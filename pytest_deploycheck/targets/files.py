"""The ``files`` kind: a local folder with the deployed application's source or configuration."""

from __future__ import annotations

from pathlib import Path

from pytest_deploycheck.targets.base import Field, TargetHandle, TargetKind


class FilesTarget(TargetHandle):
    """A local folder holding the deployed application's source or configuration."""

    @property
    def path(self) -> Path:
        return Path(str(self.target.spec["path"]))

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
    "config_files": Field("list[str]", "YAML or JSON configuration files, relative to path, judged like env files (auth.jwt_secret is AUTH_JWT_SECRET)"),
}


KIND = TargetKind(
    name="files", fixture="files", handle=FilesTarget, fields=FIELDS,
    summary="""A ``files`` target: a local folder with the deployed application's source or configuration.""",
)
