"""The built-in policy profiles: they load, list every control, cite real seed sections, and bad files are refused."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from pathlib import Path

import pytest
import yaml

from monitor.policy import CITATION, CONTROL_IDS, SEVERITIES, Params, ProfileError, builtin_names, load_profile
from monitor.policy import parse_profile as parse
from tests.shared import REPO, SEEDS, SHARED

# Each seed organisation's profile and the seed document it implements (CONTROLS.md).
SEED_OF = {
    "cardiff-met": "000",
    "bangor": "001",
    "staff-guidance": "002",
    "london-met": "003",
    "cardiff-council": "004",
}
PROFILES = sorted(builtin_names())
SEED_PROFILES = sorted(SEED_OF)

# Word-processor bookmarks that precede some numbered lines and headings in the seed text.
_BOOKMARK = re.compile(r"^(\[bookmark: [^\]]*\]\s*)+")


def _text(name: str) -> str:
    return (resources.files("monitor") / "policies" / f"{name}.yaml").read_text(encoding="utf-8")


@cache
def _seed_lines(seed: str) -> tuple[str, ...]:
    paths = sorted(SEEDS.glob(f"{seed}_*.txt"))
    assert len(paths) == 1, f"expected one seed file {seed}_*.txt in {SEEDS}, found {paths}"
    text = paths[0].read_text(encoding="utf-8")
    return tuple(_BOOKMARK.sub("", line.strip()).strip() for line in text.splitlines())


def section_exists(seed: str, section: str) -> bool:
    """Whether a cited section ('§5.4', '"Account security"', 'Section 3') is in seed NNN's text."""
    lines = _seed_lines(seed)
    if section.startswith("§"):  # a numbered paragraph: a line starting with the number, then whitespace
        pattern = re.compile(rf"^{re.escape(section[1:])}(\s|$)")
        return any(pattern.match(line) for line in lines)
    if section.startswith('"'):  # a heading: a line that is exactly the heading
        heading = section.strip('"').casefold()
        return any(line.removesuffix(":").strip().casefold() == heading for line in lines)
    m = re.fullmatch(r"Section (\d+)", section)
    assert m, f"unexpected section form {section!r}"
    pattern = re.compile(rf"^Section {m.group(1)}(?!\d)")
    return any(pattern.match(line) for line in lines)


def _citations(name: str) -> list[tuple[str, str, str | None, str | None]]:
    """(control, citation, seed number or None, section or None) for every citation in a profile."""
    out = []
    for cid, setting in load_profile(name).controls.items():
        for cite in setting.sources:
            m = CITATION.match(cite)
            assert m, f"{name} {cid}: {cite!r}"
            section = m.group(3)
            out.append((cid, cite, m.group(2), section))
    return out


# ----- where the seeds are ----------------------------------------------------------------------


def test_shared_directory_is_beside_the_repo() -> None:
    assert (REPO / "pyproject.toml").is_file(), REPO
    assert (REPO / "monitor" / "policy.py").is_file(), REPO
    assert (SHARED / "CONTROLS.md").is_file(), SHARED
    for seed in SEED_OF.values():
        assert len(list(SEEDS.glob(f"{seed}_*.txt"))) == 1, seed


@pytest.mark.parametrize(
    ("seed", "section", "exists"),
    [
        ("000", "§6.5", True),
        ("000", "§8.1.3", True),
        ("000", "§9.3", True),  # preceded by a bookmark in the text
        ("000", "§5.5", True),  # number, space, then tab
        ("000", "§8.1", False),  # only 8.1.1-8.1.3 exist
        ("000", "§14.1", False),
        ("001", '"Account security"', True),  # preceded by a bookmark
        ("001", '"account SECURITY"', True),
        ("001", '"Objective(s)"', True),
        ("001", '"Scope"', True),  # leading space in the text
        ("001", '"Account"', False),
        ("001", '"Account security policy"', False),
        ("002", '"Staying Safe on Social Media"', True),
        ("002", '"Passwords"', False),
        ("003", "§5.4", True),
        ("003", "§4.7.4.10", True),
        ("003", "§5", False),
        ("003", "§5.45", False),
        ("003", "§5.7", False),
        ("004", "Section 3", True),
        ("004", "Section 1", True),
        ("004", "Section 12", True),
        ("004", "Section 13", False),
    ],
)
def test_section_lookup_in_the_seed_text(seed: str, section: str, exists: bool) -> None:
    assert section_exists(seed, section) is exists


# ----- the built-in profiles --------------------------------------------------------------------


def test_every_seed_organisation_has_a_profile() -> None:
    assert {"default", *SEED_OF} <= set(PROFILES)


@pytest.mark.parametrize("name", PROFILES)
def test_builtin_profile_loads(name: str) -> None:
    profile = load_profile(name)
    assert profile.name == name
    assert profile.title
    assert profile.description
    assert profile.seed == SEED_OF.get(name)


@pytest.mark.parametrize("name", PROFILES)
def test_profile_lists_every_control_in_catalogue_order(name: str) -> None:
    raw = yaml.safe_load(_text(name))
    assert list(raw["controls"]) == list(CONTROL_IDS)
    for cid, setting in raw["controls"].items():
        # an unquoted `off` is YAML's false; the files must spell the mode as a string
        assert setting["mode"] in ("enforce", "advisory", "off"), cid


@pytest.mark.parametrize("name", PROFILES)
def test_profile_file_opens_with_a_header_comment(name: str) -> None:
    assert _text(name).startswith("# ")


@pytest.mark.parametrize("name", PROFILES)
def test_every_enabled_control_cites_something(name: str) -> None:
    profile = load_profile(name)
    for cid in profile.enabled():
        assert profile.controls[cid].sources, cid


def test_default_profile_enforces_every_control_with_the_catalogue_parameters() -> None:
    default = load_profile("default")
    assert all(default.controls[c].mode == "enforce" for c in CONTROL_IDS)
    assert default.parameters == Params()


@pytest.mark.parametrize("name", SEED_PROFILES)
def test_seed_profile_explains_every_control_it_does_not_enforce(name: str) -> None:
    profile = load_profile(name)
    for cid, setting in profile.controls.items():
        if setting.mode != "enforce":
            assert setting.note, f"{name} {cid} is {setting.mode} without a note saying why"


@pytest.mark.parametrize("name", SEED_PROFILES)
def test_seed_profile_enforces_something(name: str) -> None:
    profile = load_profile(name)
    assert any(s.mode == "enforce" for s in profile.controls.values())


# ----- citations ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SEED_PROFILES)
def test_seed_profile_cites_only_its_own_seed_or_practice(name: str) -> None:
    for cid, cite, seed, _ in _citations(name):
        if seed is None:
            assert cite.startswith("practice: "), (cid, cite)
        else:
            assert seed == SEED_OF[name], f"{name} {cid} cites another seed: {cite!r}"


@pytest.mark.parametrize("name", SEED_PROFILES)
def test_seed_profile_citations_exist_in_its_seed(name: str) -> None:
    cites = _citations(name)
    missing = [
        (cid, cite) for cid, cite, seed, section in cites if seed and section and not section_exists(seed, section)
    ]
    assert not missing, f"{name} cites sections its seed does not have: {missing}"


def test_default_profile_citations_exist_in_the_seeds_they_name() -> None:
    cites = _citations("default")
    assert {seed for _, _, seed, _ in cites if seed} == set(SEED_OF.values())
    missing = [
        (cid, cite) for cid, cite, seed, section in cites if seed and section and not section_exists(seed, section)
    ]
    assert not missing, f"default cites sections that do not exist: {missing}"


@pytest.mark.parametrize("name", PROFILES)
def test_only_default_cites_other_seeds(name: str) -> None:
    if name == "default":
        return
    own = load_profile(name).seed
    others = [(cid, cite) for cid, cite, seed, _ in _citations(name) if seed and seed != own]
    assert not others, f"{name} (seed {own}) cites other seeds: {others}"


# ----- parameters ---------------------------------------------------------------------------------


def _parameter_lines(text: str) -> dict[str, int]:
    """The 0-based line of each key under `parameters:`."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    assert isinstance(root, yaml.MappingNode)
    for key, value in root.value:
        if key.value == "parameters":
            assert isinstance(value, yaml.MappingNode)
            return {k.value: k.start_mark.line for k, _ in value.value}
    return {}


@pytest.mark.parametrize("name", SEED_PROFILES)
def test_every_changed_parameter_carries_a_comment_citing_the_seed(name: str) -> None:
    text = _text(name)
    lines = text.splitlines()
    where = _parameter_lines(text)
    defaults = Params().model_dump()
    changed = {k for k, v in load_profile(name).parameters.model_dump().items() if v != defaults[k]}
    for key in changed:
        i = where[key]
        comment = lines[i].partition("#")[2]
        j = i - 1
        while j >= 0 and lines[j].lstrip().startswith("#"):  # and any comment block just above
            comment = lines[j] + " " + comment
            j -= 1
        assert comment, f"{name}: parameter {key} differs from the default without a comment"
        assert re.search(r'§\d|Section \d+|"', comment), f"{name}: the comment on {key} cites no seed section"


def test_seed_specific_parameters() -> None:
    london = load_profile("london-met").parameters
    assert london.dormant_after.days == 90
    assert london.password_sharing == "forbidden"
    assert london.forbidden_abbreviations == ("LMU",)
    assert load_profile("cardiff-met").parameters.handle_prefix == "CardiffMet"
    assert load_profile("bangor").parameters.password_sharing == "logged"
    assert load_profile("cardiff-council").parameters.password_sharing == "logged"
    assert load_profile("default").parameters.password_sharing == "forbidden"


# ----- the project's own words ------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.casefold().replace("’", "'"))


def _shingles(words: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


@pytest.mark.parametrize("name", PROFILES)
def test_profile_does_not_copy_seed_sentences(name: str) -> None:
    n = 8
    mine = _shingles(_words(_text(name)), n)
    for seed in SEED_OF.values():
        copied = mine & _shingles(_words("\n".join(_seed_lines(seed))), n)
        assert not copied, f"{name} copies {n}+ words from seed {seed}: {[' '.join(c) for c in sorted(copied)]}"


# ----- broken profile files are refused, naming the line ------------------------------------------

_HEAD = """\
# A small but complete profile; each broken case below changes one thing.
name: test-org
title: Test organisation
seed: "003"
parameters:
  leaver_deadline: 24h
  password_sharing: forbidden
controls:
"""
CONTROLS_LINE = 8  # the `controls:` line of _HEAD


def _control_line(cid: str) -> int:
    return CONTROLS_LINE + 1 + CONTROL_IDS.index(cid)


def _valid() -> str:
    return _HEAD + "".join(f'  {cid}: {{mode: enforce, sources: ["003 §5.4"]}}\n' for cid in CONTROL_IDS)


def _with(cid: str, body: str | None) -> str:
    """The valid profile with one control's line replaced (or dropped when body is None)."""
    old = f'  {cid}: {{mode: enforce, sources: ["003 §5.4"]}}\n'
    return _valid().replace(old, "" if body is None else f"  {cid}: {body}\n")


def test_a_bare_yaml_off_means_off() -> None:
    profile = parse(_with("SIG-01", "{mode: off}"), "ok.yaml")
    assert profile.controls["SIG-01"].mode == "off" and "SIG-01" not in profile.enabled()


def test_the_base_of_the_broken_cases_is_valid() -> None:
    profile = parse(_valid(), "ok.yaml")
    assert profile.enabled() == list(CONTROL_IDS)
    assert _valid().splitlines()[_control_line("DIR-02") - 1].startswith("  DIR-02:")


BROKEN = [
    pytest.param(
        _valid() + '  DIR-99: {mode: enforce, sources: ["003 §5.4"]}\n',
        CONTROLS_LINE,
        "controls: unknown control DIR-99; known: DIR-01",
        id="unknown-control",
    ),
    pytest.param(
        _with("MFA-04", None),
        CONTROLS_LINE,
        "controls: every control must be listed (mode enforce, advisory or off); missing MFA-04",
        id="missing-control",
    ),
    pytest.param(
        _valid().replace("leaver_deadline: 24h", "leaver_deadline: 24 hours"),
        6,
        "parameters.leaver_deadline: '24 hours' is not a duration",
        id="bad-duration",
    ),
    pytest.param(
        _with("DIR-02", '{mode: enforce, sources: ["London Met 5.4"]}'),
        _control_line("DIR-02"),
        "controls.DIR-02.sources: citation 'London Met 5.4' is not of the form",
        id="bad-citation",
    ),
    pytest.param(
        _with("CRD-01", '{mode: enforce, sources: ["003 §5.4", "003 5.4"]}'),
        _control_line("CRD-01"),
        "controls.CRD-01.sources: citation '003 5.4' is not of the form",
        id="citation-without-section-sign",
    ),
    pytest.param(
        _with("DIR-03", '{mode: enforced, sources: ["003 §5.4"]}'),
        _control_line("DIR-03"),
        "controls.DIR-03.mode: Input should be 'enforce', 'advisory' or 'off'",
        id="bad-mode",
    ),
    pytest.param(
        _with("DIR-05", "{mode: advisory}"),
        _control_line("DIR-05"),
        "controls.DIR-05: mode is advisory but sources cites no seed section",
        id="enabled-without-sources",
    ),
    pytest.param(
        _with("LVR-01", "{mode: enforce, sources: []}"),
        _control_line("LVR-01"),
        "controls.LVR-01: mode is enforce but sources cites no seed section",
        id="enabled-with-empty-sources",
    ),
    pytest.param(
        _valid().replace("password_sharing: forbidden", "password_sharing: sometimes"),
        7,
        "parameters.password_sharing: Input should be 'forbidden' or 'logged'",
        id="bad-password-sharing",
    ),
    pytest.param(
        _valid().replace("leaver_deadline: 24h", "leaver_deadline: 24h\n  leaver_deadline: 99d"),
        7,
        "not valid YAML: key 'leaver_deadline' appears twice in one mapping (first at line 6); remove one",
        id="duplicate-parameter",
    ),
    pytest.param(
        _valid().replace("leaver_deadline: 24h", "leaver_dedline: 24h"),
        6,
        "parameters.leaver_dedline: Extra inputs are not permitted",
        id="unknown-parameter",
    ),
    pytest.param(
        _with("DIR-04", '{mode: enforce, sources: ["003 §5.2"], severity: urgent}'),
        _control_line("DIR-04"),
        "controls.DIR-04.severity: Input should be 'low', 'medium', 'high' or 'critical'",
        id="bad-severity",
    ),
    pytest.param(
        _valid().replace("name: test-org", "name: Test Org"),
        2,
        "name: String should match pattern",
        id="bad-name",
    ),
    pytest.param(
        _with("EMG-01", '{mode: enforce, sources: ["001 \\"Account security\\""]'),  # flow mapping never closed
        _control_line("EMG-02"),
        "not valid YAML: expected ',' or '}'",
        id="unclosed-flow-mapping",
    ),
    pytest.param(
        'name: test-org\ntitle: Test\ncontrols:\n  DIR-01:\n    mode: enforce\n   sources: ["003 §5.4"]\n',
        6,
        "not valid YAML",
        id="bad-indentation",
    ),
    pytest.param(
        "name: test-org\n\ttitle: indented with a tab\n",
        2,
        "not valid YAML: found character '\\t' that cannot start any token",
        id="tab-indentation",
    ),
    pytest.param(
        "@profile london-met, but stricter\n",
        1,
        "not valid YAML: found character '@' that cannot start any token",
        id="not-yaml-at-all",
    ),
    pytest.param(
        "This organisation enforces every control, strictly.\n",
        1,
        "a profile is a mapping with name, title, parameters and controls",
        id="prose-not-a-profile",
    ),
    pytest.param(
        "- DIR-01\n- DIR-02\n",
        1,
        "a profile is a mapping with name, title, parameters and controls",
        id="a-list-not-a-mapping",
    ),
]


@pytest.mark.parametrize(("text", "line", "message"), BROKEN)
def test_broken_profile_is_refused_naming_the_line(text: str, line: int, message: str) -> None:
    with pytest.raises(ProfileError) as err:
        parse(text, "broken.yaml")
    problems = str(err.value).splitlines()
    assert len(problems) == 1, problems  # one mistake, one complaint
    assert problems[0].startswith(f"broken.yaml:{line}: "), problems[0]
    assert message in problems[0], problems[0]


def test_broken_profile_file_is_refused_naming_its_path_and_line(tmp_path: Path) -> None:
    path = tmp_path / "org.yaml"
    path.write_text(_valid().replace("leaver_deadline: 24h", "leaver_deadline: 24 hours"), encoding="utf-8")
    with pytest.raises(ProfileError, match=rf"^{re.escape(str(path))}:6: parameters\.leaver_deadline: "):
        load_profile(str(path))


def test_a_copied_builtin_profile_loads_from_a_path(tmp_path: Path) -> None:
    path = tmp_path / "my-org.yaml"
    path.write_text(_text("london-met"), encoding="utf-8")
    assert load_profile(str(path)) == load_profile("london-met")


def test_unknown_builtin_name_is_refused() -> None:
    with pytest.raises(ProfileError, match=r"no profile named 'nowhere'; built in: .*default"):
        load_profile("nowhere")


def test_several_mistakes_are_all_reported() -> None:
    text = _valid().replace("leaver_deadline: 24h", "leaver_deadline: 24 hours")
    text = text.replace('  DIR-03: {mode: enforce, sources: ["003 §5.4"]}', "  DIR-03: {mode: enforced}")
    with pytest.raises(ProfileError) as err:
        parse(text, "broken.yaml")
    problems = str(err.value).splitlines()
    assert [p.split(": ")[0] for p in problems] == ["broken.yaml:6", f"broken.yaml:{_control_line('DIR-03')}"]


# ----- severity -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PROFILES)
def test_advisory_controls_alert_at_low_and_enforced_ones_keep_their_severity(name: str) -> None:
    profile = load_profile(name)
    for cid, setting in profile.controls.items():
        for default in SEVERITIES:
            got = profile.severity(cid, default)
            if setting.mode == "advisory":
                assert got == "low", (cid, default)
            elif setting.mode == "enforce":
                assert got == (setting.severity or default), (cid, default)


def test_severity_of_a_seed_profile() -> None:
    london = load_profile("london-met")
    assert london.controls["MFA-01"].mode == "advisory"
    assert london.severity("MFA-01", "high") == "low"
    assert london.controls["CRD-03"].mode == "enforce"
    assert london.severity("CRD-03", "high") == "high"
    assert "CRD-04" not in london.enabled()  # off


def test_severity_override_applies_to_enforced_controls_only() -> None:
    text = _with("SIG-04", '{mode: enforce, severity: critical, sources: ["practice: password guessing"]}')
    text = text.replace(
        '  MFA-04: {mode: enforce, sources: ["003 §5.4"]}',
        '  MFA-04: {mode: advisory, severity: critical, sources: ["practice: push bombing"], note: advice}',
    )
    profile = parse(text, "override.yaml")
    assert profile.severity("SIG-04", "medium") == "critical"
    assert profile.severity("MFA-04", "high") == "low"
    assert profile.severity("DIR-01", "medium") == "medium"
