"""Read the YAML files people write (profiles, the directory) fast, and find an error's line only when needed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

# libyaml's parser when PyYAML was built with it (its wheels are): about seven times faster than the pure-Python
# one, which took 4 s for a 1,000-account register; the same safe constructor makes the same values.
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DUMPER: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # the same bytes, 3x faster


def load_yaml(text: str) -> Any:
    """The document's data (safe types only); yaml.YAMLError for text that is not YAML.

    A file that is not YAML is read again by the pure-Python parser, whose error names the character at fault
    ("found character '@' that cannot start any token"), where libyaml's says only "found character".
    """
    try:
        return yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as fast:
        if _LOADER is yaml.SafeLoader:
            raise
        try:
            yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError as worded:
            raise worded from None
        raise fast from None


def dump_yaml(data: Any) -> str:
    """`data` as a YAML document, keys in their order, non-ASCII text as it is (as `yaml.safe_dump` writes it)."""
    return yaml.dump(data, Dumper=_DUMPER, sort_keys=False, allow_unicode=True)


def compose_yaml(text: str) -> yaml.Node | None:
    """The document's node tree, with the line of every node: composed only to name a line in an error."""
    return yaml.compose(text, Loader=_LOADER)


def top_level_value(text: str, key: str) -> tuple[Any, int] | None:
    """The value under `key` in a YAML mapping document, and the key's 1-based line; None when there is none.

    Only that value is built: the parser's events before it are passed over and none after it are read, so a
    worker that needs a register's organisation section does not build its 100,000 accounts.
    """
    events = yaml.parse(text, Loader=_LOADER)
    for ev in events:
        if isinstance(ev, yaml.MappingStartEvent):
            break
        if isinstance(ev, yaml.NodeEvent):
            return None  # a document that is not a mapping
    else:
        return None
    for k in events:
        if isinstance(k, yaml.MappingEndEvent):
            return None
        if isinstance(k, yaml.ScalarEvent) and k.value == key:
            body = _node(events, next(events), keep=True)
            doc = [
                yaml.StreamStartEvent(),
                yaml.DocumentStartEvent(),
                *body,
                yaml.DocumentEndEvent(),
                yaml.StreamEndEvent(),
            ]
            return load_yaml(yaml.emit(doc)), k.start_mark.line + 1 if k.start_mark else 1
        _node(events, k, keep=False)  # a key that is a collection
        _node(events, next(events), keep=False)
    return None


def _node(events: Iterator[yaml.Event], first: yaml.Event, *, keep: bool) -> list[yaml.Event]:
    """Consume the events of the node that starts with `first`; the list of them when `keep`."""
    kept = [first] if keep else []
    depth = 1 if isinstance(first, yaml.CollectionStartEvent) else 0
    while depth:
        ev = next(events)
        if keep:
            kept.append(ev)
        if isinstance(ev, yaml.CollectionStartEvent):
            depth += 1
        elif isinstance(ev, yaml.CollectionEndEvent):
            depth -= 1
    return kept


def node_line(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the YAML node at a pydantic error location."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == str(part):
                    node = v
                    line = k.start_mark.line + 1
                    break
            else:
                break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line
