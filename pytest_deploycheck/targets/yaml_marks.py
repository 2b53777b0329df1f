"""YAML that remembers where each value was written: the reader behind every container finding's ``file:line``.

Compose files, Kubernetes manifests (multi-document, ``helm template`` / ``kustomize build`` output,
``kubectl get -o json``) are read into ``MDict``/``MList``: a plain ``dict``/``list`` that also knows
the ``Mark`` (file, line) of itself and of each key or item, so a finding can point at the very line
an operator has to change.  The inventory reader (``yamlfile.py``) keeps lines too, but as
``(value, line)`` trees for strict validation; rules here need ordinary mappings they can merge
(Compose overrides) and hand to JSON-schema validation.  Compose's ``!reset`` and ``!override``
tags are understood when ``compose_tags`` is set.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import yaml


class Mark(NamedTuple):
    file: str
    line: int  # 1-based

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


class MDict(dict[Any, Any]):
    """A YAML mapping that remembers where it and each of its keys were written."""

    mark: Mark | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.key_marks: dict[Any, Mark] = {}


class MList(list[Any]):
    """A YAML sequence that remembers where it and each of its items were written."""

    mark: Mark | None = None

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.item_marks: list[Mark] = []


@dataclass(frozen=True)
class Override:
    """A Compose ``!override`` value: replaces instead of merging."""

    value: Any


class Reset:
    """A Compose ``!reset`` value: removes the key inherited from an earlier file."""

    def __repr__(self) -> str:
        return "!reset"


class _MarkedLoader(yaml.SafeLoader):
    filename = "<string>"


def _mark(loader: _MarkedLoader, node: yaml.Node) -> Mark:
    return Mark(loader.filename, node.start_mark.line + 1)


def _construct_map(loader: _MarkedLoader, node: yaml.MappingNode) -> Iterator[MDict]:
    data = MDict()
    data.mark = _mark(loader, node)
    yield data
    loader.flatten_mapping(node)  # YAML merge keys (<<: *anchor), which compose files use a lot
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        data[key] = loader.construct_object(value_node, deep=True)
        data.key_marks[key] = _mark(loader, key_node)


def _construct_seq(loader: _MarkedLoader, node: yaml.SequenceNode) -> Iterator[MList]:
    data = MList()
    data.mark = _mark(loader, node)
    yield data
    for item in node.value:
        data.append(loader.construct_object(item, deep=True))
        data.item_marks.append(_mark(loader, item))


_MarkedLoader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_MarkedLoader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)


def _compose_override(loader: _MarkedLoader, node: yaml.Node) -> Override:
    # Construct a copy of the node under its plain tag: the tagged node itself is mid-construction.
    plain: yaml.Node
    if isinstance(node, yaml.MappingNode):
        plain = yaml.MappingNode("tag:yaml.org,2002:map", node.value, node.start_mark, node.end_mark)
    elif isinstance(node, yaml.SequenceNode):
        plain = yaml.SequenceNode("tag:yaml.org,2002:seq", node.value, node.start_mark, node.end_mark)
    else:
        plain = yaml.ScalarNode("tag:yaml.org,2002:str", node.value, node.start_mark, node.end_mark)
    return Override(loader.construct_object(plain, deep=True))


class _ComposeLoader(_MarkedLoader):
    pass


_ComposeLoader.add_constructor("!reset", lambda loader, node: Reset())
_ComposeLoader.add_constructor("!override", _compose_override)


def load_yaml_documents(text: str, filename: str, *, compose_tags: bool = False) -> list[Any]:
    """All documents of a YAML (or JSON) text, mappings as ``MDict`` and sequences as ``MList``."""
    loader = (_ComposeLoader if compose_tags else _MarkedLoader)(text)
    loader.filename = filename
    try:
        docs = []
        while loader.check_data():  # type: ignore[no-untyped-call]
            docs.append(loader.get_data())
        return docs
    finally:
        loader.dispose()


def mark_of(node: Any, *path: Any) -> Mark | None:
    """Where ``node[path[0]][path[1]]...`` was written: the deepest part of the path that has a mark."""
    best: Mark | None = getattr(node, "mark", None)
    for key in path:
        if isinstance(node, MDict) and key in node:
            best = node.key_marks.get(key, best)
            node = node[key]
        elif isinstance(node, MList) and isinstance(key, int) and 0 <= key < len(node):
            best = node.item_marks[key] if key < len(node.item_marks) else best
            node = node[key]
        else:
            break
    return best



def plain(node: Any) -> Any:
    """``node`` as plain dicts and lists (for JSON-schema validation and JSON evidence)."""
    if isinstance(node, Mapping):
        return {str(k): plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    return node
