"""The checklists a run was given, read at configure time with their mapping files."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path

import pytest

from pytest_deploycheck.checklist.mapping import MappingFile, load_mapping, mapping_path, stale_entries
from pytest_deploycheck.checklist.parse import Checklist, ChecklistError, parse_file
from pytest_deploycheck.yamlfile import display_path


@dataclasses.dataclass
class LoadedChecklist:
    """A checklist given with --deploycheck-checklist, with its mapping file, read at configure time."""

    path: Path
    checklist: Checklist
    mapping: MappingFile
    warnings: tuple[str, ...]

    @property
    def display(self) -> str:
        return display_path(self.path)


def load(paths: Iterable[Path]) -> list[LoadedChecklist]:
    """Read every checklist and its mapping file; any problem is one usage error naming the file."""
    loaded = []
    for path in paths:
        if not path.exists():
            raise pytest.UsageError(f"{path}: checklist not found; check the path given to --deploycheck-checklist")
        if not path.is_file():
            raise pytest.UsageError(f"{path}: not a regular file; --deploycheck-checklist takes a Markdown file")
        try:
            checklist = parse_file(path)
        except ChecklistError as exc:
            raise pytest.UsageError(f"{exc}; --deploycheck-checklist takes a Markdown file with '- [ ] item' lines") from None
        mapping = load_mapping(mapping_path(path))
        loaded.append(LoadedChecklist(path, checklist, mapping, tuple(checklist.warnings) + tuple(stale_entries(mapping, checklist))))
    return loaded
