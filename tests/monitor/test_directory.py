"""The directory file: read fast, and a bad one refused naming the file, the line and the problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor import yamlfile
from monitor.demo import build_directory
from monitor.directory import DirectoryError, load_organisation, parse_directory


@pytest.fixture(scope="module")
def register() -> dict[str, Any]:
    return build_directory(7)


def _text(d: dict[str, Any]) -> str:
    return yaml.safe_dump(d, sort_keys=False)


def _line_of(text: str, needle: str, nth: int = 1) -> int:
    """The 1-based line of the nth line containing `needle`."""
    hits = [n for n, line in enumerate(text.splitlines(), 1) if needle in line]
    return hits[nth - 1]


def test_libyaml_reads_the_register_when_pyyaml_has_it_and_makes_what_the_pure_parser_makes(
    register: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = _text(register)
    assert yamlfile._LOADER is (yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader)
    fast = parse_directory(text)
    monkeypatch.setattr(yamlfile, "_LOADER", yaml.SafeLoader)
    assert parse_directory(text) == fast
    assert len(fast.accounts) == len(register["accounts"])


@pytest.mark.parametrize(("section", "index", "field", "what"), [("people", 3, "person_id", "person"),
                                                            ("accounts", 0, "account_id", "account")])  # fmt: skip
def test_an_entry_listed_twice_is_refused_at_the_second_listing(
    register: dict[str, Any], section: str, index: int, field: str, what: str
) -> None:
    entry = register[section][index]
    text = _text({**register, section: [*register[section], dict(entry)]})
    with pytest.raises(DirectoryError) as err:
        parse_directory(text, "register.yaml")
    line = _line_of(text, f"{field}: {entry[field]}", 2)
    assert str(err.value) == f"register.yaml:{line}: {what} {entry[field]} is listed twice"


def test_a_bad_field_is_named_with_its_line(register: dict[str, Any]) -> None:
    accounts = [dict(a) for a in register["accounts"]]
    accounts[5]["credential_model"] = "sometimes"
    text = _text({**register, "accounts": accounts})
    with pytest.raises(DirectoryError) as err:
        parse_directory(text, "register.yaml")
    (problem,) = str(err.value).splitlines()
    assert problem.startswith(
        f"register.yaml:{_line_of(text, 'credential_model: sometimes')}: accounts.5.credential_model: "
    )


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("organisation: {domains: [a.org]\npeople: []\n", 2, "not valid YAML: expected ',' or '}'"),
        ("organisation:\n\t- a.org\n", 2, "not valid YAML: found character '\\t' that cannot start any token"),
        ("@register\n", 1, "not valid YAML: found character '@' that cannot start any token"),
        ("- p-0001\n", 1, "the directory is a mapping with organisation, people and accounts"),
        (
            "organisation:\n  domains: [a.org]\n  since: 2026-13-01\n",
            3,
            "not valid YAML: '2026-13-01' looks like a date or time but is not one; quote it to keep it as text "
            "(month must be in 1..12)",
        ),
        (
            "accounts:\n- account_id: acc-1\n  mfa_enabled: true\n  mfa_enabled: false\n",
            4,
            "not valid YAML: key 'mfa_enabled' appears twice in one mapping (first at line 3); remove one",
        ),
    ],
    ids=["unclosed-flow", "tab", "not-yaml", "a-list", "not-a-date", "a-key-twice"],
)
def test_text_that_is_not_a_register_is_refused_in_words_naming_the_line(text: str, line: int, message: str) -> None:
    with pytest.raises(DirectoryError) as err:
        parse_directory(text, "register.yaml")
    assert str(err.value).startswith(f"register.yaml:{line}: ")
    assert message in str(err.value)


def test_the_register_is_written_as_safe_dump_writes_it(register: dict[str, Any]) -> None:
    people = [*register["people"], {"person_id": "p-9999", "email": "siân.ó@aberwen.ac.uk", "groups": []}]
    d = {**register, "people": people}
    assert yamlfile.dump_yaml(d) == yaml.safe_dump(d, sort_keys=False, allow_unicode=True)
    assert "siân.ó@" in yamlfile.dump_yaml(d)


def test_the_organisation_is_read_alone_wherever_it_stands_in_the_file(
    register: dict[str, Any], tmp_path: Path
) -> None:
    last = {"people": register["people"], "accounts": register["accounts"], "organisation": register["organisation"]}
    for name, d in (("first.yaml", register), ("last.yaml", last)):
        path = tmp_path / name
        path.write_text(_text(d))
        assert load_organisation(path) == parse_directory(_text(d)).organisation
    # Only the section is built: a file whose accounts are not valid still gives its organisation.
    broken = tmp_path / "broken.yaml"
    broken.write_text(_text(register) + "- not: a register\n  but: a list\n")
    with pytest.raises(DirectoryError):
        parse_directory(broken.read_text())
    assert load_organisation(broken) == parse_directory(_text(register)).organisation


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("people: []\naccounts: []\n", "org.yaml:1: the directory has no organisation section"),
        ("- organisation\n", "org.yaml:1: the directory has no organisation section"),
        ("people: []\norganisation:\n  domains: []\n", "org.yaml:2: organisation.domains: List should have at least 1"),
        ("organisation: {domains: [a.org]\n", "org.yaml:2: not valid YAML: expected ',' or '}'"),
        (
            "organisation:\n  domains: [a.org]\npeople: []\norganisation:\n  domains: [b.org]\n",
            "org.yaml:4: not valid YAML: key 'organisation' appears twice in one mapping (first at line 1)",
        ),
    ],
    ids=["missing", "a-list", "no-domains", "not-yaml", "twice"],
)
def test_an_organisation_that_cannot_be_used_is_refused_naming_the_line(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "org.yaml"
    path.write_text(text)
    with pytest.raises(DirectoryError) as err:
        load_organisation(path)
    assert str(err.value).startswith(str(tmp_path / message))


@pytest.mark.parametrize(
    ("where", "key", "path"),
    [("accounts", "password", "accounts.2.password"), ("people", "api_token", "people.4.api_token"),
     ("organisation", "adminPassword", "organisation.adminPassword"), (None, "secret", "secret")],
)  # fmt: skip
def test_a_secret_looking_field_is_refused_as_a_secret_without_its_value(
    register: dict[str, Any], where: str | None, key: str, path: str, tmp_path: Path
) -> None:
    d = {
        **register,
        "accounts": [dict(a) for a in register["accounts"]],
        "people": [dict(p) for p in register["people"]],
        "organisation": dict(register["organisation"]),
    }
    value = "Hunter2-do-not-log"
    if where == "accounts":
        d["accounts"][2][key] = value
    elif where == "people":
        d["people"][4][key] = value
    elif where == "organisation":
        d["organisation"][key] = value
    else:
        d[key] = value
    text = _text(d)
    with pytest.raises(DirectoryError) as err:
        parse_directory(text, "register.yaml")
    line = _line_of(text, f"{key}: {value}")
    assert str(err.value) == (f"register.yaml:{line}: {path}: looks like it holds a secret, which a register must "
                              "never carry (passwords, secrets, tokens, one-time codes): take it out of the file, and "
                              "change that secret, as it was written down")  # fmt: skip
    if where == "organisation":  # a Kafka worker reads this section alone
        (tmp_path / "register.yaml").write_text(text)
        with pytest.raises(DirectoryError) as err:
            load_organisation(tmp_path / "register.yaml")
        assert "organisation.adminPassword: looks like it holds a secret" in str(err.value)
        assert value not in str(err.value)
    d["accounts"][0]["notes"] = "a field that is not a secret"  # any other field is refused as before
    with pytest.raises(DirectoryError, match=r"accounts\.0\.notes: Extra inputs are not permitted"):
        parse_directory(_text(d), "register.yaml")


def _said_in_full(text: str, origin: str) -> list[str]:
    """Every problem of a file that is not a Directory, as the refusal said them all before it was cut short."""
    from pydantic import ValidationError

    from monitor.directory import _problem
    from schemas.directory import Directory

    try:
        Directory.model_validate(yamlfile.load_yaml(text))
    except ValidationError as err:
        node = yamlfile.compose_yaml(text)
        return [f"{origin}:{yamlfile.node_line(node, tuple(e['loc'])) or 1}: {'.'.join(str(p) for p in e['loc'])}: "
                f"{_problem(e)}" for e in err.errors(include_url=False)]  # fmt: skip
    raise AssertionError("the file is a Directory")


def test_a_file_with_thousands_of_problems_is_refused_with_the_first_twenty_and_a_count_of_the_rest() -> None:
    """20,000 entries that are no account made a 10 MB refusal, with every problem's line found in a document
    composed whole (3.8 s and 200 MB through the API); `monitor directory import` printed it all too."""
    text = "organisation:\n  domains: [a.example]\npeople: []\naccounts:\n" + "".join(
        f"- {{x: {i}}}\n" for i in range(20_000)
    )
    with pytest.raises(DirectoryError) as err:
        parse_directory(text, "import")
    said = str(err.value).splitlines()
    assert said[:3] == ["import:5: accounts.0.account_id: Field required", "import:5: accounts.0.platform: Field "
                        "required", "import:5: accounts.0.handle: Field required"]  # fmt: skip
    assert said[19:] == ["import:7: accounts.2.platform: Field required", "... and 179,980 more"]
    assert len(str(err.value)) < 2_000


@pytest.mark.parametrize("valid_first", [0, 30, 1_500])
def test_the_first_twenty_problems_are_the_ones_the_whole_file_s_check_lists_first(
    register: dict[str, Any], valid_first: int
) -> None:
    """People and accounts are checked a thousand at a time: the same problems, in the same order and words and
    with the same lines, as the whole file's check lists, wherever they begin, and the same count of them."""
    people = [{**p, "person_id": f"{p['person_id']}-{k}"} for k in range(valid_first // len(register["people"]) + 1)
              for p in register["people"]][:valid_first]  # fmt: skip
    people += [{"person_id": "p-x", "mail": "x"}, "p-y", None, [1], {"person_id": "p-z", "email": "z@x", "groups": 1}]
    accounts = [{**a, "mfa_enabled": "yes"} for a in register["accounts"]] * 300
    organisation = {"handle_prefix": 7, "note": 1}
    for d in [{**register, "people": people, "accounts": accounts, "extra": 1},  # many problems
              {**register, "people": people, "extra": 1, "organisation": organisation},  # a few: all said
              {"people": {"p-1": 1}, "accounts": accounts[:3], "organisation": register["organisation"]}]:  # fmt: skip
        text = _text(d)
        full = _said_in_full(text, "register.yaml")
        with pytest.raises(DirectoryError) as err:
            parse_directory(text, "register.yaml")
        more = [f"... and {len(full) - 20:,} more"] if len(full) > 20 else []
        assert str(err.value).splitlines() == [*full[:20], *more]
