"""The README's reference tables, generated from the code so the two cannot drift.

    python -m pytest_deploycheck.docs README.md   # rewrite the generated blocks in place

``tests/test_docs.py`` fails when README.md is not what this module would write.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from pytest_deploycheck.inventory import iter_fields
from pytest_deploycheck.markers import MARKERS, Severity
from pytest_deploycheck.options import SETTINGS
from pytest_deploycheck.targets import KINDS
from pytest_deploycheck.thresholds import markdown_table


def inventory_table() -> str:
    rows = ["| where | key | type | meaning |", "|---|---|---|---|"]
    for section, key, field in iter_fields():
        kind = field.type if not field.choices else " \\| ".join(field.choices)
        required = " **(required)**" if field.required else ""
        rows.append(f"| {section} | `{key}` | {kind} | {field.doc}{required} |")
        for sub, subfield in (field.fields or {}).items():
            rows.append(f"| {section} | `{key}.{sub}` | {subfield.type} | {subfield.doc} |")
    return "\n".join(rows)


def targets_table() -> str:
    rows = ["| inventory section | fixture | handle | module | what a check gets |", "|---|---|---|---|---|"]
    for kind in KINDS:
        first = " ".join(kind.summary.split(". ")[0].split()).replace("``", "`")
        also = f" (also {' and '.join(kind.also)} targets)" if kind.also else ""
        rows.append(f"| `{kind.name}` | `{kind.fixture}`{also} | `{kind.handle.__name__}` | `targets/{kind.handle.__module__.rsplit('.', 1)[-1]}.py` | {first.rstrip('.')}. |")
    return "\n".join(rows)


def options_table() -> str:
    rows = ["| option | environment | ini key | default | meaning |", "|---|---|---|---|---|"]
    for s in SETTINGS:
        flag = f"`{s.flag}`" if not s.metavar else f"`{s.flag}={s.metavar}`"
        rows.append(f"| {flag} | {f'`{s.env}`' if s.env else ''} | {f'`{s.ini}`' if s.ini else ''} | "
                    f"{s.default if s.default is not None else ''} | {s.help} |")
    return "\n".join(rows)


def markers_table() -> str:
    rows = ["| marker | meaning |", "|---|---|"]
    severities = {s.value for s in Severity}
    for name, text in MARKERS.items():
        if name in severities:
            continue
        rows.append(f"| `@pytest.mark.{text.split(':', 1)[0]}` | {text.split(':', 1)[1].strip()} |")
    rows.append("| `critical`, `high`, `medium`, `low`, `info` | added from the check's severity: `-m critical`, `-m \"high or critical\"` |")
    return "\n".join(rows)


BLOCKS = {"targets": targets_table, "inventory": inventory_table, "thresholds": markdown_table, "options": options_table, "markers": markers_table}


def render(text: str) -> str:
    for name, make in BLOCKS.items():
        pattern = re.compile(rf"(<!-- generated:{name} -->\n)(?:.*?\n)?(<!-- /generated:{name} -->)", re.S)
        text = pattern.sub(lambda m, make=make: m.group(1) + make() + "\n" + m.group(2), text)  # type: ignore[misc]
    return text


def main(argv: list[str]) -> int:
    path = Path(argv[0] if argv else "README.md")
    path.write_text(render(path.read_text()))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main(sys.argv[1:]))
