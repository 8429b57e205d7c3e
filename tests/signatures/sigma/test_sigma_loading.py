"""Loading Sigma rules: every rule in the corpus loads or is refused with its file and reason;
log sources map through pySigma's pipelines; prefilter keys and licences are right."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from evtxscan.signatures.sigma import SigmaPathError, SigmaRuleSet, load_sigma
from evtxscan.signatures.sigma.expression import Scope
from evtxscan.signatures.sigma.model import CorrelationType, Prefilter


def _documents(path: Path) -> list[dict[str, object]]:
    try:
        return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    except yaml.YAMLError:
        return []


def test_every_rule_loads_or_is_refused(sigma_dir: Path, sigma_set: SigmaRuleSet) -> None:
    files = sorted(p for p in sigma_dir.rglob("*") if p.suffix in (".yml", ".yaml"))
    documents = sum(len(_documents(p)) for p in files)
    accounted = len(sigma_set.detections) + len(sigma_set.correlations) + len(sigma_set.refused)
    assert accounted == documents
    assert sorted(sigma_set.files) == sorted(str(p) for p in files)
    # All 227 SigmaHQ detection rules load, plus the two base rules of the extracted example.
    rules = sigma_dir / "rules"
    from_sigmahq = [d for d in sigma_set.detections if d.info.source.startswith(str(rules))]
    assert len(from_sigmahq) == len(list(rules.rglob("*.yml"))) == 227
    assert len(sigma_set.detections) == 229
    for refusal in sigma_set.refused:
        assert Path(refusal.source.split(":")[0]).is_file(), refusal
        assert refusal.reason


def test_refusals_name_the_rule_and_the_reason(sigma_set: SigmaRuleSet) -> None:
    by_title = {r.rule: r for r in sigma_set.refused}
    percentile = by_title[
        "A computer spawned a processes name in the last 24h than 1% of all the processes."
    ]
    assert percentile.source.endswith("value_percentile.yml")
    assert "value_percentile is not evaluated" in percentile.reason
    assert "references rule 'recon_cmd_a'" in by_title["Recon"].reason
    assert "references rule 'website_access'" in by_title["Possible Exfiltration to Website"].reason
    test_category = by_title["Base rule 1"]
    assert "category: test" in test_category.reason and "pipelines" in test_category.reason
    # The correlations over a refused base rule are refused, not silently dropped.
    assert "references rule 'base_rule'" in by_title["Multiple occurrences of base event"].reason
    info = [r for r in sigma_set.refused if r.source.endswith("info.yml")]
    assert len(info) == 1 and "must have a title" in info[0].reason
    duplicate = [r for r in sigma_set.refused if "duplicate rule id" in r.reason]
    assert [Path(r.source).name for r in duplicate] == ["event_count_ecs.yml"]


def test_correlations_of_the_extracted_example(sigma_set: SigmaRuleSet) -> None:
    by_name = {c.info.title: c for c in sigma_set.correlations}
    outer = by_name["Correlation - Multiple Failed Logins Followed by Successful Login"]
    inner = by_name["Multiple failed logons"]
    assert outer.type is CorrelationType.TEMPORAL_ORDERED
    assert outer.rules == (inner.info.key, "4d0a2c83-c62c-4ed4-b475-c7e23a9269b8")
    assert outer.timespan_seconds == 600 and outer.group_by == ("User",)
    assert inner.type is CorrelationType.EVENT_COUNT and inner.count == 10
    assert outer.reported and not inner.reported  # inner has no ``generate``
    base = {d.info.key: d for d in sigma_set.detections}
    assert not base["53ba33fd-3a50-4468-a5ef-c583635cfa92"].reported
    assert base["53ba33fd-3a50-4468-a5ef-c583635cfa92"].prefilter == Prefilter(
        channels=frozenset({"security"}), event_ids=frozenset({529, 4625})
    )
    assert outer.info.licence == "public domain"  # the specification's own licence


def test_metadata_and_licence(sigma_set: SigmaRuleSet) -> None:
    by_title = {d.info.title: d.info for d in sigma_set.detections}
    info = by_title["Eventlog Cleared"]
    assert info.id == "a62b37e0-45d3-48d9-a517-90c1a1b0186b"
    assert info.author == "Florian Roth (Nextron Systems)"
    assert info.level == "medium" and info.licence == "DRL-1.1"
    assert info.references[0].startswith("https://twitter.com/deviouspolack")
    assert all(
        d.info.licence == "DRL-1.1" for d in sigma_set.detections if "/rules/" in d.info.source
    )


def test_prefilter_keys(sigma_set: SigmaRuleSet) -> None:
    by_title = {d.info.title: d for d in sigma_set.detections}
    cleared = by_title["Eventlog Cleared"].prefilter
    assert cleared == Prefilter(
        channels=frozenset({"system"}),
        providers=frozenset({"microsoft-windows-eventlog"}),
        event_ids=frozenset({104}),
    )
    # ``1 of selection_*`` over two EventIDs with different providers: the union.
    security_cleared = by_title["Security Eventlog Cleared"].prefilter
    assert security_cleared.event_ids == frozenset({517, 1102})
    assert security_cleared.channels == frozenset({"security"})
    av = by_title["Relevant Anti-Virus Signature Keywords In Application Log"].prefilter
    assert (av.channels, av.providers, av.event_ids) == (frozenset({"application"}), None, None)
    # Keywords also search the message (a catalog's text): no literal a value must hold.
    assert av.literals is None
    computer = by_title["Win Susp Computer Name Containing Samtheadmin"].prefilter
    assert computer == Prefilter(
        channels=frozenset({"security"}), literals=frozenset({"samtheadmin-"})
    )


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


RULE = """title: {title}
id: {id}
logsource:
{logsource}
detection:
{detection}
level: low
"""


def _rule(title: str, rid: str, logsource: str, detection: str) -> str:
    return RULE.format(title=title, id=rid, logsource=logsource, detection=detection)


def test_bad_rules_are_refused_with_located_reasons(tmp_path: Path) -> None:
    _write(tmp_path, "broken.yml", "title: x\n  bad: [indent\n")
    _write(
        tmp_path,
        "lookahead.yml",
        _rule(
            "Lookahead",
            "00000000-0000-0000-0000-000000000001",
            "    product: windows\n    service: system",
            "    sel:\n        ImagePath|re: '^(?=.*evil)'\n    condition: sel",
        ),
    )
    _write(
        tmp_path,
        "linux.yml",
        _rule(
            "Linux",
            "00000000-0000-0000-0000-000000000002",
            "    product: linux\n    service: auth",
            "    sel:\n        x: 1\n    condition: sel",
        ),
    )
    _write(
        tmp_path,
        "undefined.yml",
        _rule(
            "Undefined selection",
            "00000000-0000-0000-0000-000000000003",
            "    product: windows\n    service: system",
            "    sel:\n        EventID: 1\n    condition: sel and other",
        ),
    )
    _write(
        tmp_path,
        "unknown_service.yml",
        _rule(
            "Unknown service",
            "00000000-0000-0000-0000-000000000004",
            "    product: windows\n    service: nosuchservice",
            "    sel:\n        EventID: 1\n    condition: sel",
        ),
    )
    loaded = load_sigma(tmp_path)
    assert not loaded.detections
    reasons = {Path(r.source.split(":")[0]).name: r for r in loaded.refused}
    assert set(reasons) == {
        "broken.yml",
        "lookahead.yml",
        "linux.yml",
        "undefined.yml",
        "unknown_service.yml",
    }
    assert "cannot be read as Sigma YAML" in reasons["broken.yml"].reason
    assert "RE2" in reasons["lookahead.yml"].reason
    assert reasons["lookahead.yml"].rule == "Lookahead"
    assert "product 'linux' is not Windows" in reasons["linux.yml"].reason
    assert "'other' not defined" in reasons["undefined.yml"].reason
    assert "service: nosuchservice" in reasons["unknown_service.yml"].reason
    assert str(tmp_path / "lookahead.yml") in str(reasons["lookahead.yml"])


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SigmaPathError, match="not found"):
        load_sigma(tmp_path / "nope")


def test_licence_field_wins_and_unknown_is_said(tmp_path: Path) -> None:
    text = _rule(
        "Licensed",
        "00000000-0000-0000-0000-000000000005",
        "    product: windows\n    service: system",
        "    sel:\n        EventID: 1\n    condition: sel",
    )
    _write(tmp_path, "a.yml", text)
    _write(tmp_path, "b.yml", text.replace("0005", "0006") + "license: MIT\n")
    loaded = {d.info.key[-1]: d.info.licence for d in load_sigma(tmp_path).detections}
    assert loaded["6"] == "MIT"
    assert loaded["5"].startswith("unknown")


def test_process_creation_maps_to_sysmon_and_security_audit(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "proc.yml",
        _rule(
            "Cmd",
            "00000000-0000-0000-0000-000000000007",
            "    product: windows\n    category: process_creation",
            "    sel:\n        Image|endswith: '\\\\cmd.exe'\n    condition: sel",
        ),
    )
    rule = load_sigma(tmp_path).detections[0]
    assert rule.prefilter == Prefilter(
        channels=frozenset({"microsoft-windows-sysmon/operational", "security"}),
        event_ids=frozenset({1, 4688}),
        literals=frozenset({"\\cmd.exe"}),
    )
    text = repr(rule.expression)
    assert "'Image'" in text and "'NewProcessName'" in text  # the audit pipeline's mapping
    assert "Scope.SYSTEM" in text and Scope.DATA.value in text


def test_loaded_sets_are_cached_by_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVTXSCAN_CACHE_DIR", str(tmp_path / "cache"))
    rule = tmp_path / "rules" / "r.yml"
    rule.parent.mkdir()
    rule.write_text(
        _rule(
            "Cached",
            "00000000-0000-0000-0000-000000000008",
            "    product: windows\n    service: system",
            "    sel:\n        EventID: 1\n    condition: sel",
        )
    )
    first = load_sigma(rule.parent)
    assert len(list((tmp_path / "cache").glob("sigma-*.pickle"))) == 1
    again = load_sigma(rule.parent)
    assert again == first and again is not first  # read back from the cache
    rule.write_text(rule.read_text().replace("EventID: 1", "EventID: 2"))
    edited = load_sigma(rule.parent)
    assert edited.detections[0].prefilter.event_ids == frozenset({2})


def test_a_cached_set_loads_without_pysigma(tmp_path: Path) -> None:
    """pySigma (about 0.1 s to import) is imported only to parse: a set read back from the
    cache, matched and reported, needs none of it."""
    rule = tmp_path / "rules" / "r.yml"
    rule.parent.mkdir()
    rule.write_text(
        _rule(
            "Cached",
            "00000000-0000-0000-0000-000000000009",
            "    product: windows\n    service: system",
            "    sel:\n        EventID: 1\n    condition: sel",
        )
    )
    probe = (
        "import sys; from evtxscan.signatures.sigma import load_sigma; "
        "import evtxscan.scanning.sigma_stage; "
        f"rules = load_sigma({str(rule.parent)!r}); "
        "print(len(rules.detections), "
        "any(m == 'sigma' or m.startswith('sigma.') for m in sys.modules))"
    )
    env = {**os.environ, "EVTXSCAN_CACHE_DIR": str(tmp_path / "cache")}
    runs = [
        subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
        for _ in range(2)
    ]
    assert [r.stdout.split() for r in runs] == [["1", "True"], ["1", "False"]], runs[-1].stderr


def test_long_value_lists_become_several_alternations(tmp_path: Path) -> None:
    """One RE2 alternation of thousands of values runs hundreds of times slower: a list of
    1,200 (or two selections of 700 each under ``1 of``) becomes alternations of at most
    ``ALTERNATION_LIMIT`` values, OR-ed, matching what the one alternation matched."""
    import pandas as pd

    from evtxscan.signatures.sigma.compile import ALTERNATION_LIMIT
    from evtxscan.signatures.sigma.expression import AnyOf, Match, Text
    from evtxscan.signatures.sigma.matcher import SigmaMatcher

    def values(prefix: str, count: int) -> str:
        return "\n".join(f"            - '{prefix}{n:05d}'" for n in range(count))

    one = "    sel:\n        ServiceName|contains:\n" + values("svc", 1200) + "\n    condition: sel"
    two = (
        "    sel_a:\n        ServiceName|endswith:\n" + values("a", 700) + "\n"
        "    sel_b:\n        ServiceName|endswith:\n" + values("b", 700) + "\n"
        "    condition: 1 of sel_*"
    )
    system = "    product: windows\n    service: system"
    _write(tmp_path, "one.yml", _rule("One", "00000000-0000-0000-0000-0000000000a1", system, one))
    _write(tmp_path, "two.yml", _rule("Two", "00000000-0000-0000-0000-0000000000a2", system, two))
    rules = load_sigma(tmp_path)
    for rule in rules.detections:
        tests = [n for n in _leaves(rule.expression) if isinstance(n, Match)]
        tests = [n for n in tests if n.field.key == "servicename"]
        counts = [n.matcher.alternatives for n in tests if isinstance(n.matcher, Text)]
        assert len(counts) >= 3 and max(counts) <= ALTERNATION_LIMIT, rule.info.title
        assert sum(counts) in (1200, 1400), rule.info.title
        assert isinstance(rule.expression, AnyOf) or any(
            isinstance(child, AnyOf) for child in getattr(rule.expression, "children", ())
        )
    names = ["x svc00000 y", "svc01199", "svc01200", "zz a00699", "b00699", "b00700"]
    frame = pd.DataFrame(
        {
            "channel": pd.Categorical(["System"] * len(names)),
            "provider": pd.Categorical(["Service Control Manager"] * len(names)),
            "event_id": pd.array([7045] * len(names), dtype="UInt16"),
            "data": [[{"name": "ServiceName", "value": name}] for name in names],
        }
    )
    found = SigmaMatcher(rules.detections).match(frame)
    titles = [rules.detections[r].info.title for r in found["rule"]]
    hits = sorted(zip(titles, found["row"].tolist(), strict=True))
    assert hits == [("One", 0), ("One", 1), ("Two", 3), ("Two", 4)]


def _leaves(node: object) -> list[object]:
    children = getattr(node, "children", None)
    if children is None:
        child = getattr(node, "child", None)
        return [node] if child is None else _leaves(child)
    return [leaf for item in children for leaf in _leaves(item)]
