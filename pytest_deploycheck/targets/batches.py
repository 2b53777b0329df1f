"""The ``batches`` kind: a folder two systems exchange batch files through (JSONL exports).

An SFTP drop, a mounted share, a CI artifact folder: the sending side writes data files (with
their metadata and checksum sidecars) and the receiving side picks them up.  The handle judges
the folder once per run (``batch_files.judge_folder``) and hands every check the same report.
Only local folders (a mount counts): reading a remote host's folder through the ``host``
fixture's commands would need a streaming protocol of its own.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytest_deploycheck.outcomes import TargetError, TargetUnreachable
from pytest_deploycheck.targets.base import Field, Target, TargetHandle, TargetKind
from pytest_deploycheck.targets.batch_files import Checksums, FolderReport, Progress, Rules, Validator, judge_folder
from pytest_deploycheck.targets.reach import Reachability
from pytest_deploycheck.yamlfile import YamlLoader, YamlNode, display_path

JSONSCHEMA_MISSING = "the Python package jsonschema is not installed; install it (pip install 'jsonschema>=4.21') to validate batch files"
PLAIN_PATTERN = r".+\.jsonl"
ENCRYPTED_PATTERN = r".+\.jsonl\.(gpg|pgp|asc|age)"


class BatchesTarget(TargetHandle):
    """A batch-exchange folder, judged once per run within a byte budget."""

    def __init__(self, target: Target, reach: Reachability) -> None:
        super().__init__(target, reach)
        self._lock = threading.Lock()
        self._outcome: FolderReport | TargetError | None = None

    @property
    def path(self) -> Path:
        return Path(str(self.target.spec["path"]))

    @property
    def encrypted(self) -> bool:
        return bool(self.target.get("encrypted", False))

    @property
    def pattern(self) -> str:
        """The regex a data file's name must match in full."""
        return str(self.target.get("pattern") or (ENCRYPTED_PATTERN if self.encrypted else PLAIN_PATTERN))

    @property
    def max_age_hours(self) -> float:
        """How old the newest data file may be: ``max_age_hours``, else the ``batch_max_age_hours`` threshold."""
        value = self.target.get("max_age_hours")
        return float(value if value is not None else self.threshold("batch_max_age_hours"))

    @property
    def meta_required(self) -> bool:
        return bool(self.target.get("meta", True))

    @property
    def checksums(self) -> Checksums:
        value = str(self.target.get("checksums") or "sidecar")
        return "manifest" if value == "manifest" else "none" if value == "none" else "sidecar"

    @property
    def schema(self) -> str | None:
        value = self.target.get("schema")
        return str(value) if value else None

    def rules(self) -> Rules:
        return Rules(
            pattern=self.pattern, validator=self._validator(), max_age_hours=self.max_age_hours, encrypted=self.encrypted,
            meta=self.meta_required, checksums=self.checksums, manifest=str(self.target.get("manifest") or "SHA256SUMS"),
            partial_grace_hours=float(self.threshold("batch_partial_grace_hours")), byte_budget=int(self.threshold("batch_byte_budget")),
        )

    def report(self) -> FolderReport:
        """The folder judged once per run; every later call gets the same report or the same error.

        A folder that cannot be listed is an error (could not look); one that stops answering (a
        hung mount: no file operation completes within the target's timeout) marks the target
        unreachable, so the rest of its checks end at once.
        """
        self.reach.raise_if_failed(self.target)
        with self._lock:
            if self._outcome is None:
                try:
                    self._outcome = self._scan()
                except TargetUnreachable:
                    raise  # remembered by Reachability
                except TargetError as exc:
                    self._outcome = exc
        if isinstance(self._outcome, TargetError):
            raise TargetError(str(getattr(self._outcome, "msg", self._outcome)))
        return self._outcome

    def _validator(self) -> Validator | None:
        if self.schema is None:
            return None
        try:
            return load_validator(Path(self.schema))
        except SchemaProblem as exc:
            raise TargetError(f"{self.label}: {exc}") from None

    def _scan(self) -> FolderReport:
        rules = self.rules()
        progress = Progress()
        box: dict[str, Any] = {}

        def work() -> None:
            try:
                box["report"] = judge_folder(self.path, rules, progress=progress)
            except Exception as exc:  # noqa: BLE001  # handed to the waiting thread, which re-raises it
                box["error"] = exc

        # The pass runs in a daemon thread: a read stuck in a dead network mount must cost one
        # timeout, and a thread that never returns must not hold up the end of the run.
        worker = threading.Thread(target=work, name=f"deploycheck-batches-{self.name}", daemon=True)
        worker.start()
        seen = 0
        while True:
            worker.join(self.timeout)
            if not worker.is_alive():
                break
            if progress.ticks == seen:
                where = "listing the folder" if not progress.listed else "reading files"
                message = f"no file operation completed for {self.timeout:g}s while {where} (a hung mount?)"
                self.reach.mark(self.target, message)
                raise TargetUnreachable(f"{self.label}: {message}")
            seen = progress.ticks
        error = box.get("error")
        if isinstance(error, FileNotFoundError):
            raise TargetError(f"{self.label}: folder {self.path} does not exist (batches.{self.name}.path); is the share mounted?")
        if isinstance(error, PermissionError):
            raise TargetError(f"{self.label}: cannot list {self.path}: permission denied; give the account deploycheck runs as read access")
        if isinstance(error, OSError):
            raise TargetError(f"{self.label}: cannot list {self.path}: {error.strerror or error}")
        if error is not None:
            raise error
        report: FolderReport = box["report"]
        return report


class SchemaProblem(Exception):
    """The JSON Schema file cannot be used: the message says why and what to do."""


def load_validator(path: Path) -> Validator:
    """A validator for the JSON Schema in ``path``: the draft its ``$schema`` names (2020-12 when
    absent), with the format checks jsonschema can do (email, ipv4, date, uuid, ...)."""
    try:
        import jsonschema
    except ImportError:
        raise SchemaProblem(JSONSCHEMA_MISSING) from None
    shown = display_path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SchemaProblem(f"{shown}: cannot read the schema file: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise SchemaProblem(f"{shown}: not UTF-8 text ({exc.reason} at byte {exc.start}); save the schema as UTF-8") from None
    except json.JSONDecodeError as exc:
        raise SchemaProblem(f"{shown}:{exc.lineno}: not JSON ({exc.msg}, column {exc.colno}); fix the schema file") from None
    if not isinstance(document, (dict, bool)):
        raise SchemaProblem(f"{shown}: a JSON Schema is an object (or true/false), got a {type(document).__name__}; fix the schema file")
    cls: Any = jsonschema.validators.validator_for(document, default=None)
    if cls is None:
        if isinstance(document, dict) and "$schema" in document:
            raise SchemaProblem(f"{shown}: unknown $schema {document['$schema']!r}; name a JSON Schema draft "
                                "(https://json-schema.org/draft/2020-12/schema) or remove $schema")
        cls = jsonschema.Draft202012Validator
    try:
        cls.check_schema(document)
    except jsonschema.SchemaError as exc:
        where = "/" + "/".join(str(part) for part in exc.absolute_path)
        raise SchemaProblem(f"{shown}: not a valid JSON Schema ({cls.__name__.removesuffix('Validator')}): at {where}: {exc.message}; "
                            "fix the schema file") from None
    validator: Validator = cls(document, format_checker=cls.FORMAT_CHECKER)
    return validator


def validate(ld: YamlLoader, spec: Mapping[str, Any], raw: Mapping[str, YamlNode], keypath: str) -> None:
    """At load time: the pattern compiles, the schema file is a JSON Schema, the manifest is asked for."""
    pattern = spec.get("pattern")
    if pattern is not None:
        try:
            re.compile(str(pattern))
        except re.error as exc:
            ld.problem(raw["pattern"].line, f"{keypath}.pattern",
                       f"not a valid regular expression ({exc.msg} at position {exc.pos}); write a Python regex, e.g. export_[0-9]{{8}}\\.jsonl")
    if spec.get("schema"):
        try:
            load_validator(Path(str(spec["schema"])))
        except SchemaProblem as exc:
            ld.problem(raw["schema"].line, f"{keypath}.schema", str(exc))
    if "manifest" in spec and spec.get("checksums") != "manifest":
        ld.problem(raw["manifest"].line, f"{keypath}.manifest", "is read only with checksums: manifest; add that key or remove this one")


FIELDS: dict[str, Field] = {
    "path": Field("path", "local folder the batch files are exchanged through (a mounted share, an SFTP drop, a CI artifact folder)", required=True),
    "pattern": Field("str", "Python regex a data file's name must match in full, e.g. export_[0-9]{8}_[0-9]{6}\\.jsonl "
                            "(default: any .jsonl; .jsonl.gpg/.age when encrypted)"),
    "schema": Field("path", "JSON Schema file every JSONL line must validate against (its $schema draft; 2020-12 when absent)", must_exist=True),
    "meta": Field("bool", "whether every data file needs a <file>.meta.json sidecar with records, created_at, schema_version (default true)"),
    "checksums": Field("choice", "where each data file's sha256 is: sidecar (<file>.sha256, the default), manifest, or none",
                       choices=("sidecar", "manifest", "none")),
    "manifest": Field("str", "name of the checksum manifest in the folder, with checksums: manifest (default SHA256SUMS)"),
    "max_age_hours": Field("number", "the newest data file must be younger than this: the transfer schedule plus slack "
                                     "(default: the batch_max_age_hours threshold)"),
    "encrypted": Field("bool", "whether every data file must be gpg or age ciphertext (default false)"),
}


KIND = TargetKind(
    name="batches", fixture="batches", handle=BatchesTarget, fields=FIELDS, validate=validate,
    summary="""A ``batches`` target: a batch-exchange folder, ``batches.report()`` judged once per run within the byte budget.""",
)
