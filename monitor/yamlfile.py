"""Read the YAML files people write (profiles, the directory) fast, and find an error's line only when needed."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import Any, cast

import yaml

# libyaml's parser when PyYAML was built with it (its wheels are): about seven times faster than the pure-Python
# one, which took 4 s for a 1,000-account register; the same safe constructor makes the same values.
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DUMPER: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # the same bytes, 3x faster
_C_LOADER: type[yaml.SafeLoader] | None = getattr(yaml, "CSafeLoader", None)
_C_DUMPER: type[yaml.SafeDumper] | None = getattr(yaml, "CSafeDumper", None)


def load_yaml(text: str) -> Any:
    """The document's data (safe types only); yaml.YAMLError for text that is not YAML.

    A plain document is built straight from libyaml's parser events (`_load_plain`); anything else, and text
    that is not YAML, goes through the loader. A file that is not YAML is read again by the pure-Python parser,
    whose error names the character at fault ("found character '@' that cannot start any token"), where
    libyaml's says only "found character".
    """
    if _LOADER is _C_LOADER is not None:
        try:
            return _load_plain(text)
        except NotAValue:
            raise
        except (_Unusual, yaml.YAMLError):
            pass  # the loader below makes what it makes, or words the error
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except (ValueError, OverflowError) as exc:  # a constructor's: "2026-13-01" looks like a date and is not one
        raise NotAValue(None, None, f"a value {_NOT_A_DATE} ({exc})", None) from None
    except yaml.YAMLError as fast:
        if _LOADER is yaml.SafeLoader:
            raise
        try:
            yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError as worded:
            raise worded from None
        raise fast from None


_NOT_A_DATE = "looks like a date or time but is not one; quote it to keep it as text"


class NotAValue(yaml.constructor.ConstructorError):
    """A plain scalar that looks like a date and is not one ("2026-13-01"): a YAML error naming its line, where
    PyYAML's constructor raises a bare ValueError."""


class DuplicateKey(yaml.constructor.ConstructorError):
    """A mapping that names one key twice: the loader keeps the last value without a word, so `mfa_enabled: true`
    then `mfa_enabled: false` in one account would switch MFA off unseen. Refused, naming both lines."""


class _StrictLoader(_LOADER):  # type: ignore[valid-type, misc]
    """The safe loader, refusing a key given twice in one mapping (a merge key's values may still be overridden)."""

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            own = [k for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge"]  # not what a merge brings
            self.flatten_mapping(node)  # as the loader does first (and again, a no-op, below): "=" keys become text
            first: dict[Any, yaml.Node] = {}
            for key_node in own:
                key = self.construct_object(key_node, deep=True)
                try:
                    earlier = first.setdefault(key, key_node)
                except TypeError:
                    continue  # a key that cannot be a dict's key: the loader's own error says so
                if earlier is not key_node:
                    line = earlier.start_mark.line + 1
                    text, was = getattr(key_node, "value", key), getattr(earlier, "value", key)
                    problem = (f"key '{text}' appears twice in one mapping (first at line {line}); remove one"
                               if text == was else f"key '{text}' is the same key as '{was}' at line {line} (the "
                               "mapping would keep one value of the two); remove or quote one")  # fmt: skip
                    raise DuplicateKey(None, None, problem, key_node.start_mark)
        return cast(dict[Any, Any], super().construct_mapping(node, deep=deep))


class _Unusual(Exception):
    """A document `_load_plain` leaves to the loader: tags, anchors, aliases, merge keys, collection keys."""


_STR, _MERGE_LIKE = "tag:yaml.org,2002:str", frozenset({"tag:yaml.org,2002:merge", "tag:yaml.org,2002:value",
                                                        "tag:yaml.org,2002:yaml"})  # fmt: skip
_SCALARS = yaml.constructor.SafeConstructor()
_REPRESENTER = yaml.representer.SafeRepresenter()  # for floats: its text of them (".nan", "1.0e+16") is its own
_Resolvers = dict[Any, list[tuple[str, Any]]]


def _implicit(cls: Any) -> _Resolvers:
    """The class's implicit resolvers (first character -> [(tag, pattern)]), read when used: a program may add its
    own to CSafeLoader or CSafeDumper, which then hold a copy of their own."""
    resolvers: _Resolvers = cls.yaml_implicit_resolvers
    if None in resolvers or cls.yaml_path_resolvers:
        raise _Unusual("resolvers this does not apply")
    return resolvers


def _resolved(value: str, resolvers: _Resolvers) -> str:
    """The tag the safe loader gives `value` written plain."""
    for tag, pattern in resolvers.get(value[0] if value else "", ()):
        if pattern.match(value):
            return str(tag)
    return _STR


def _plain_scalar(value: str, resolvers: _Resolvers, constructors: dict[Any, Any]) -> Any:
    """An untagged plain scalar's value: the tag the safe loader's resolver gives it, built by its constructor."""
    tag = _resolved(value, resolvers)
    if tag == _STR:
        return value
    if tag in _MERGE_LIKE:
        raise _Unusual(tag)
    return constructors[tag](_SCALARS, yaml.ScalarNode(tag, value))


def _load_plain(text: str) -> Any:
    """What the safe loader makes of a single document of untagged, unanchored mappings, sequences and scalars,
    built from libyaml's parser events; _Unusual for anything else.

    The loader composes a node for every value, then resolves and constructs each in Python: nine tenths of the
    time a 10,000-account register took to read (5.7 s; this takes 0.6 s). The same resolver patterns and
    scalar constructors are used here, so the values are the same (tests/monitor/test_yamlfile.py).
    """
    from yaml._yaml import CParser  # type: ignore[import-not-found, unused-ignore]

    resolvers, constructors = _implicit(_C_LOADER), dict(_C_LOADER.yaml_constructors)  # type: ignore[union-attr]
    parser = CParser(text)
    try:
        get: Callable[[], Any] = parser.get_event
        if type(get()) is not yaml.StreamStartEvent:
            raise _Unusual("stream")
        ev = get()
        if type(ev) is yaml.StreamEndEvent:
            return None  # no document: what the loader gives
        if type(ev) is not yaml.DocumentStartEvent or ev.tags:
            raise _Unusual("document")
        top: list[Any] = []
        parents: list[tuple[Any, Any, bool]] = []
        into: Any = top  # the open collection
        key: Any = _Unusual  # a mapping's key waiting for its value; _Unusual: none
        in_mapping = False
        while True:
            ev = get()
            kind = type(ev)
            if kind is yaml.ScalarEvent:
                if ev.anchor is not None or ev.tag is not None:
                    raise _Unusual("tag or anchor")
                try:
                    value: Any = _plain_scalar(ev.value, resolvers, constructors) if ev.implicit[0] else ev.value
                except (ValueError, OverflowError) as exc:
                    raise NotAValue(None, None, f"'{ev.value}' {_NOT_A_DATE} ({exc})", ev.start_mark) from None
            elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                if ev.anchor is not None or ev.tag is not None:
                    raise _Unusual("tag or anchor")
                value = {} if kind is yaml.MappingStartEvent else []
            elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                into, key, in_mapping = parents.pop()
                continue
            elif kind is yaml.DocumentEndEvent:
                break
            else:
                raise _Unusual(kind.__name__)  # an alias
            if not in_mapping:
                into.append(value)
            elif key is _Unusual:
                if kind is not yaml.ScalarEvent:
                    raise _Unusual("a collection as a key")
                key = value
                continue
            else:
                if key in into:  # "1" and "true" too: the dict keeps one value of the two
                    raise _Unusual("a key given twice")  # the strict loader refuses it, naming both lines
                into[key] = value
                key = _Unusual
            if kind is not yaml.ScalarEvent:
                parents.append((into, key, in_mapping))
                into, key, in_mapping = value, _Unusual, kind is yaml.MappingStartEvent
        if type(get()) is not yaml.StreamEndEvent:
            raise _Unusual("more than one document")  # the loader's error says so
        return top[0]
    finally:
        parser.dispose()


def dump_yaml(data: Any) -> str:
    """`data` as a YAML document, keys in their order, non-ASCII text as it is (as `yaml.safe_dump` writes it)."""
    if _DUMPER is _C_DUMPER is not None:
        try:
            return _dump_plain(data)
        except _Unusual:
            pass
    return yaml.dump(data, Dumper=_DUMPER, sort_keys=False, allow_unicode=True)


_TAGS = {t: f"tag:yaml.org,2002:{n}" for t, n in ((bool, "bool"), (int, "int"), (float, "float"),
                                                   (date, "timestamp"), (datetime, "timestamp"))}  # fmt: skip
_NULL, _MAP, _SEQ = "tag:yaml.org,2002:null", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"


def _dump_plain(data: Any) -> str:
    """What the safe dumper writes for dicts, lists, str, int, float, bool, None, dates and datetimes, each object
    once, sent as events straight to libyaml's emitter; _Unusual for anything else.

    The safe dumper represents each value as a node in Python, then resolves every scalar again to decide whether
    it may go unquoted: four fifths of writing a 10,000-account register (2.6 s; this takes 0.5 s). The values
    are written as its representer writes them and resolved with the same patterns, so libyaml, given the same
    events, writes the same text (tests/monitor/test_yamlfile.py).
    """
    from yaml._yaml import CEmitter  # type: ignore[import-not-found, unused-ignore]

    resolvers = _implicit(_C_DUMPER)
    out = io.StringIO()
    emit: Callable[[yaml.Event], None] = CEmitter(out, allow_unicode=True).emit
    seen: set[int] = set()  # the dumper writes an object met twice as an anchor and an alias

    def scalar(value: str, tag: str) -> None:
        emit(yaml.ScalarEvent(None, tag, (_resolved(value, resolvers) == tag, tag == _STR), value))

    def node(x: Any) -> None:
        kind = type(x)
        if kind is str:
            scalar(x, _STR)
        elif kind is dict or kind is list:
            if id(x) in seen:
                raise _Unusual("an object met twice")
            seen.add(id(x))
            if kind is dict:
                emit(yaml.MappingStartEvent(None, _MAP, True, flow_style=False))
                for k, v in x.items():
                    node(k)
                    node(v)
                emit(yaml.MappingEndEvent())
            else:
                emit(yaml.SequenceStartEvent(None, _SEQ, True, flow_style=False))
                for v in x:
                    node(v)
                emit(yaml.SequenceEndEvent())
        elif x is None:
            scalar("null", _NULL)
        elif kind is bool:
            scalar("true" if x else "false", _TAGS[bool])
        elif kind is int:
            scalar(str(x), _TAGS[int])
        elif kind is float:
            scalar(_REPRESENTER.represent_float(x).value, _TAGS[float])
        elif kind is date or kind is datetime:
            if id(x) in seen:
                raise _Unusual("an object met twice")
            seen.add(id(x))
            scalar(x.isoformat() if kind is date else x.isoformat(" "), _TAGS[kind])
        else:
            raise _Unusual(kind.__name__)

    emit(yaml.StreamStartEvent())
    emit(yaml.DocumentStartEvent(explicit=False))
    node(data)
    emit(yaml.DocumentEndEvent(explicit=False))
    emit(yaml.StreamEndEvent())
    return out.getvalue()


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


class _Path:
    """Error locations sharing a path from the document's root: all of them below here, those that end here, and
    the next part of each path (by the part, and by its text, which a mapping's key is compared with)."""

    __slots__ = ("ends", "ids", "named", "next")

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.ends: list[int] = []
        self.next: dict[Any, _Path] = {}
        self.named: dict[str, _Path] = {}


class _AllFound(Exception):
    pass


def _line(ev: yaml.Event) -> int:
    """The 1-based line an event starts on (the parser marks every one)."""
    return ev.start_mark.line + 1 if ev.start_mark is not None else 1


def node_lines(text: str, locs: list[tuple[Any, ...]]) -> list[int | None]:
    """What `node_line` gives for each location in the document, read from the parser's events, stopping as soon as
    every location's line is known: no node is built and the rest of the file is not read. Composing a register
    whole to name a few problems' lines took seconds and hundreds of megabytes. A path through an alias is left to
    `node_line` on the composed document, which follows it."""
    root = _Path()
    for i, loc in enumerate(locs):
        at = root
        at.ids.append(i)
        for part in loc:
            if part not in at.next:
                at.next[part] = at.named.setdefault(str(part), _Path())
            at = at.next[part]
            at.ids.append(i)
        at.ends.append(i)
    lines: list[int | None] = [None] * len(locs)
    known: set[int] = set()
    events = yaml.parse(text, Loader=_LOADER)

    def settle(ids: list[int]) -> None:
        known.update(ids)
        if len(known) == len(locs):
            raise _AllFound

    def walk(ev: yaml.Event, at: _Path | None, line: int) -> None:
        """Consume the node that starts with `ev`, `at` the locations that pass through it (None: none do)."""
        if at is not None:
            for i in at.ids:
                if i not in known:
                    lines[i] = line
            if isinstance(ev, yaml.AliasEvent):  # node_line goes on in, or names, the node it stands for
                raise _Unusual("a path through an alias")
            settle(at.ends)
        if isinstance(ev, yaml.MappingStartEvent):
            while not isinstance(key := next(events), yaml.MappingEndEvent):
                if isinstance(key, yaml.ScalarEvent):
                    inner = at.named.get(key.value) if at is not None else None
                else:
                    walk(key, None, 0)  # a key that is a collection: no path names it
                    inner = None
                walk(next(events), inner, _line(key))
        elif isinstance(ev, yaml.SequenceStartEvent):
            n = 0
            while not isinstance(item := next(events), yaml.SequenceEndEvent):
                inner = at.next.get(n) if at is not None else None
                walk(item, inner, _line(item))
                n += 1
        if at is not None:
            settle(at.ids)

    try:
        for ev in events:
            if isinstance(ev, yaml.NodeEvent):  # the document's root
                walk(ev, root, _line(ev))
                break
    except _AllFound:
        pass
    except _Unusual:
        node = compose_yaml(text)
        return [node_line(node, loc) for loc in locs]
    return lines
