"""Reading YAML fast: libyaml's events built into values give what the safe loader gives, or the loader is used."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor import yamlfile
from monitor.demo import build_directory

pytestmark = pytest.mark.skipif(not yaml.__with_libyaml__, reason="the fast path reads libyaml's events")


def _typed(x: Any) -> Any:
    """x with the type of every value kept, so that True and 1, or 1 and 1.0, do not compare equal."""
    if isinstance(x, dict):
        return ("dict", [(_typed(k), _typed(v)) for k, v in x.items()])
    if isinstance(x, list):
        return ("list", [_typed(v) for v in x])
    if isinstance(x, float) and x != x:
        return ("float", "nan")
    return (type(x).__name__, x)


def _loader(text: str) -> Any:
    return yaml.load(text, Loader=yaml.SafeLoader)


PLAIN = {
    "ints": "a: 0x1f\nb: 0o17\nc: 017\nd: 1_000\ne: 1:30\nf: -12\ng: +7\nh: 0b101\n",
    "floats": "a: 1.5\nb: .inf\nc: -.Inf\nd: 1e3\ne: 6.8523015e+5\nf: .NaN\ng: 1_0.5\nh: 190:20:30.15\n",
    "bools": "a: yes\nb: No\nc: ON\nd: off\ne: y\nf: n\ng: TRUE\nh: false\n",
    "nulls": "a: ~\nb: null\nc:\nd: Null\ne: ''\nf: 'null'\n",
    "times": "a: 2001-12-14\nb: 2001-12-14t21:59:43.10-05:00\nc: 2001-12-14 21:59:43.10 -5\nd: 2002-12-14\n",
    "quoted": "a: '0x1f'\nb: \"yes\"\nc: '2001-12-14'\nd: \"1.5\"\ne: '~'\nf: \"a\\tb\\u00e9\"\n",
    "keys": "1: int\nfalse: bool\n~: null\n2001-12-14: date\n1.5: float\n'1': str\n",
    "nested": "a: {b: [1, two, {c: null}], d: []}\ne:\n- - x\n  - y\n- {}\n- [yes, 'no']\n",
    "blocks": "a: |\n  line one\n  line two\nb: >\n  folded\n  text\nc: |-\n  kept\n",
    "unicode": "name: Siân Ó Briain\nemail: siân.ó@aberwen.ac.uk\n",
    "markers": "%YAML 1.1\n---\na: 1\n...\n",
    "a-list": "- 1\n- two\n",
    "a-scalar": "just text\n",
    "empty": "",
    "comments": "# nothing but a comment\n",
}


@pytest.mark.parametrize("text", PLAIN.values(), ids=PLAIN.keys())
def test_a_plain_document_is_built_from_events_as_the_loader_builds_it(text: str) -> None:
    assert _typed(yamlfile._load_plain(text)) == _typed(_loader(text))
    assert _typed(yamlfile.load_yaml(text)) == _typed(_loader(text))


def test_times_and_dates_come_out_as_the_loader_makes_them() -> None:
    got = yamlfile._load_plain(PLAIN["times"])
    assert type(got["a"]) is date and type(got["b"]) is datetime and got["b"].tzinfo is not None


UNUSUAL = {
    "anchor-alias": "a: &x {b: 1}\nc: *x\n",
    "merge": "base: &b {x: 1}\nthing:\n  <<: *b\n  y: 2\n",
    "merge-key-alone": "<<: {x: 1}\ny: 2\n",
    "explicit-str": "a: !!str 3\n",
    "explicit-int": "a: !!int '3'\n",
    "set": "s: !!set {a, b}\n",
    "binary": "b: !!binary aGVsbG8=\n",
    "non-specific": "a: ! 12\n",
    "tagged-map": "a: !!map {b: 1}\n",
    "tag-directive": "%TAG !e! tag:example.com,2000:\n---\na: 1\n",
    "value-key": "=: 1\n",
}


@pytest.mark.parametrize("text", UNUSUAL.values(), ids=UNUSUAL.keys())
def test_anything_else_is_left_to_the_loader_and_read_the_same(text: str) -> None:
    with pytest.raises(yamlfile._Unusual):
        yamlfile._load_plain(text)
    try:
        expected = ("value", _typed(_loader(text)))
    except yaml.YAMLError as err:
        expected = ("error", type(err).__name__)
    try:
        got = ("value", _typed(yamlfile.load_yaml(text)))
    except yaml.YAMLError as err:
        got = ("error", type(err).__name__)
    assert got == expected


def test_a_resolver_a_program_adds_to_the_loader_is_used_as_the_loader_uses_it(monkeypatch: pytest.MonkeyPatch) -> None:
    own = {k: list(v) for k, v in yaml.CSafeLoader.yaml_implicit_resolvers.items()}
    monkeypatch.setattr(yaml.CSafeLoader, "yaml_implicit_resolvers", own, raising=False)
    yaml.CSafeLoader.add_implicit_resolver("tag:yaml.org,2002:null", re.compile("^none$"), ["n"])
    assert yamlfile.load_yaml("a: none\nb: nothing\n") == {"a": None, "b": "nothing"}
    assert yaml.load("a: none\n", Loader=yaml.CSafeLoader) == {"a": None}


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("a: 1\n---\nb: 2\n", yaml.composer.ComposerError),  # two documents
        ("? [a, b]\n: c\n", yaml.constructor.ConstructorError),  # a key that cannot be a dict's key
        ("a: [1, 2\n", yaml.parser.ParserError),
        ("@x\n", yaml.scanner.ScannerError),
    ],
    ids=["two-documents", "unhashable-key", "unclosed", "bad-character"],
)
def test_what_the_loader_refuses_is_refused_with_its_error(text: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        _loader(text)
    with pytest.raises(error):
        yamlfile.load_yaml(text)


@pytest.mark.parametrize(("text", "line"), [("a: 1\nb: 2026-02-30\n", 1), ("a: &x 1\nb: 2026-02-30\n", None)],
                         ids=["plain", "left-to-the-loader"])  # fmt: skip
def test_a_value_that_looks_like_a_date_and_is_not_one_is_a_yaml_error_not_a_crash(text: str, line: int | None) -> None:
    with pytest.raises(ValueError):
        _loader(text)  # PyYAML's own: a bare ValueError, no line
    with pytest.raises(yamlfile.NotAValue) as err:
        yamlfile.load_yaml(text)
    assert isinstance(err.value, yaml.YAMLError)
    assert "looks like a date or time but is not one" in str(err.value.problem)
    assert (err.value.problem_mark.line if err.value.problem_mark else None) == line


@pytest.mark.parametrize(
    ("text", "key", "first", "again"),
    [
        ("a: 1\nb: 2\na: 3\n", "a", 1, 3),
        ("accounts:\n- account_id: acc-1\n  mfa_enabled: true\n  mfa_enabled: false\n", "mfa_enabled", 3, 4),
        ("a: &x 1\nb: {c: 1, c: 2}\n", "c", 2, 2),  # left to the loader (an anchor): refused there too
    ],
    ids=["top", "nested", "left-to-the-loader"],
)
def test_a_key_given_twice_in_one_mapping_is_refused_naming_both_lines(text: str, key: str, first: int,
                                                                       again: int) -> None:  # fmt: skip
    assert isinstance(_loader(text), dict)  # PyYAML's own keeps the last value without a word
    with pytest.raises(yamlfile.DuplicateKey) as err:
        yamlfile.load_yaml(text)
    assert isinstance(err.value, yaml.YAMLError)
    assert err.value.problem == f"key '{key}' appears twice in one mapping (first at line {first}); remove one"
    assert err.value.problem_mark is not None and err.value.problem_mark.line + 1 == again


def test_two_keys_the_mapping_would_merge_are_refused_saying_so() -> None:
    assert _loader("1: a\ntrue: b\n") == {1: "b"}  # PyYAML's own: 'a' is gone, without a word
    with pytest.raises(yamlfile.DuplicateKey) as err:
        yamlfile.load_yaml("1: a\ntrue: b\n")
    assert err.value.problem == ("key 'true' is the same key as '1' at line 1 (the mapping would keep one value of the "
                                 "two); remove or quote one")  # fmt: skip


def test_a_merge_key_may_still_be_overridden_and_equal_keys_in_different_mappings_are_fine() -> None:
    text = "base: &b {x: 1, y: 1}\nthing:\n  <<: *b\n  x: 2\nother: {x: 3}\n"
    assert yamlfile.load_yaml(text) == _loader(text) == {"base": {"x": 1, "y": 1}, "thing": {"x": 2, "y": 1},
                                                         "other": {"x": 3}}  # fmt: skip


def test_a_register_takes_the_fast_path() -> None:
    text = yaml.safe_dump(build_directory(7), sort_keys=False)
    assert _typed(yamlfile._load_plain(text)) == _typed(_loader(text))


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(["yes", "No", "on", "~", "null", "0x1f", "017", "1:30", "1e3", ".inf", "2001-12-14", "<<", "="]),
    st.dates(),
)
DATA = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.one_of(st.text(max_size=8), st.integers()), inner, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(data=DATA, flow=st.sampled_from([None, True, False]))
def test_whatever_safe_dump_writes_is_read_back_as_the_loader_reads_it(data: Any, flow: bool | None) -> None:
    text = yaml.safe_dump(data, default_flow_style=flow, allow_unicode=True)
    assert _typed(yamlfile.load_yaml(text)) == _typed(_loader(text))


def _safe_dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def _dumper(data: Any) -> str:
    """What the dumper dump_yaml used before the fast path writes (libyaml's emitter, so a scalar document ends
    as libyaml ends it, where it differs from the pure-Python emitter)."""
    return yaml.dump(data, Dumper=yaml.CSafeDumper, sort_keys=False, allow_unicode=True)


WRITTEN = st.recursive(
    st.one_of(
        SCALARS,
        st.floats(),  # with inf and nan
        st.datetimes(timezones=st.one_of(st.none(), st.timezones())),
        st.sampled_from(["", " padded ", "a: b", "- x", "#", "'q'", '"dq"', "multi\nline", "tab\there", "ü", "\x85"]),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.one_of(SCALARS, st.floats()), inner, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(data=WRITTEN)
def test_values_are_written_as_the_dumper_writes_them(data: Any) -> None:
    assert yamlfile._dump_plain(data) == _dumper(data)
    assert yamlfile.dump_yaml(data) == _dumper(data)


def test_a_register_is_written_by_the_fast_path_as_safe_dump_writes_it() -> None:
    register = build_directory(7)
    assert yamlfile._dump_plain(register) == _safe_dump(register)


SHARED = [1, "two"]
ODD = {
    "an-object-met-twice": {"a": SHARED, "b": SHARED},
    "a-date-met-twice": [date(2026, 1, 1)] * 2,
    "a-tuple": {"t": (1, 2)},
    "a-set": {"s": {"x"}},
    "bytes": {"b": b"\x00\x01"},
}


@pytest.mark.parametrize("data", ODD.values(), ids=ODD.keys())
def test_anything_else_is_left_to_the_dumper_and_written_the_same(data: Any) -> None:
    with pytest.raises(yamlfile._Unusual):
        yamlfile._dump_plain(data)
    assert yamlfile.dump_yaml(data) == _dumper(data)


@pytest.mark.parametrize(
    "text",
    [
        "a:\n  b: [1, {c: 2,\n   d: 3}]\n  e:\n  - f: 4\n    g:\n    - 5\n    - 6\n",
        "- {x: 1}\n- y\n- [z, {0: w}]\n",
        "base: &b\n  k: 1\nother:\n  <<: *b\n  j: 2\nref: *b\n[1, 2]: 3\nafter: {m: 1}\n",
        "- &a {k: 1}\n- x\n- *a\n",
        "just a scalar\n",
        "\n\n# a comment\nkey:\n\n  value\n",
    ],
    ids=["nested", "sequence", "anchors", "an-alias-in-a-sequence", "scalar", "blank-lines"],
)
def test_lines_read_from_the_parser_s_events_are_those_of_the_composed_document(text: str) -> None:
    """node_lines (the parser's events, stopping when all are known) gives the line node_line gives on the
    document composed whole, for paths that are there, that stop short, and that are not there at all."""

    def paths(x: yaml.Node, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        out = [at, (*at, "missing"), (*at, 99)]
        if isinstance(x, yaml.MappingNode):
            for k, v in x.value:
                out += paths(v, (*at, k.value)) if isinstance(k, yaml.ScalarNode) else []
        elif isinstance(x, yaml.SequenceNode):
            for i, v in enumerate(x.value):
                out += paths(v, (*at, i))
        return out

    node = yamlfile.compose_yaml(text)
    assert node is not None
    locs = paths(node)
    assert yamlfile.node_lines(text, locs) == [yamlfile.node_line(node, loc) for loc in locs]
    for one in locs:
        assert yamlfile.node_lines(text, [one]) == [yamlfile.node_line(node, one)]
