"""Read the YAML files people write (profiles, the directory) fast, and find an error's line only when needed."""

from __future__ import annotations

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
