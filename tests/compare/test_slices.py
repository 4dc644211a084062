"""Slices by tag: a change confined to one tag is found there, the rest stay unchanged;
exploratory slices are adjusted and never gate; a gated slice fails the gate."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driftgate.compare import compare
from driftgate.compare.recheck import recheck_report
from driftgate.compare.schema import Report
from driftgate.compare.slices import MAX_VALUES, MIN_RECORDS
from driftgate.config import ConfigError, parse_config
from driftgate.experiments.models import ExperimentData
from driftgate.report import render_comment, render_terminal
from driftgate.result import GateResult
from tests.compare.builders import column, experiment, keys
from tests.report.scenarios import CONTEXT, LOCAL_CONTEXT

N = 90
LEVELS = ("easy", "medium", "hard")


def _tags(n: int = N) -> list[tuple[str, ...]]:
    return [(f"difficulty:{LEVELS[i % 3]}", f"lang:{'en' if i % 2 else 'fr'}") for i in range(n)]


def _pair(
    worse: set[int], tags: list[tuple[str, ...]] | None = None
) -> tuple[ExperimentData, ExperimentData]:
    ids = keys(N, "r")
    base = [1] * N
    cand = [0 if i in worse else 1 for i in range(N)]
    quality = [0.8] * N
    b = experiment(
        ids, evaluators=[column("correct", "boolean", base), column("q", "score", quality)]
    )
    c = experiment(
        ids, evaluators=[column("correct", "boolean", cand), column("q", "score", quality)]
    )
    if tags is not None:
        b = dataclasses.replace(b, record_tags=tags)
        c = dataclasses.replace(c, record_tags=tags)
    return b, c


HARD_DROP = {i for i in range(N) if i % 3 == 2 and i < 75}  # 25 of the 30 hard records


def _by(report: Report, tag: str, metric: str = "correct") -> object:
    return next(s for s in report.slices if s.tag == tag and s.metric.name == metric)


def test_a_drop_confined_to_one_tag_shows_in_its_slice_only() -> None:
    report = compare(*_pair(HARD_DROP, _tags()))
    hard = _by(report, "difficulty:hard")
    assert hard.metric.verdict == "regressed" and hard.changed and not hard.gated
    assert hard.metric.gate == "pass" and hard.metric.level == "off"
    assert hard.metric.n == 30 and hard.metric.delta == pytest.approx(-25 / 30)
    for tag in ("difficulty:easy", "difficulty:medium"):
        other = _by(report, tag)
        assert not other.changed and other.metric.delta == 0
    # every slice x gated metric is in the JSON, adjusted over all of them
    assert {s.tag for s in report.slices} == {
        "difficulty:easy",
        "difficulty:medium",
        "difficulty:hard",
        "lang:en",
        "lang:fr",
    }
    assert all(s.tests == 10 for s in report.slices)
    again = Report.model_validate_json(report.model_dump_json())
    assert again.slices == report.slices
    text = render_terminal(GateResult(reports=[report]), LOCAL_CONTEXT)
    table = text.split("Slices by tag", 1)[1].split("\n\n", 2)[1]
    assert "difficulty:hard | correct" in table
    assert "difficulty:easy" not in table and "difficulty:medium" not in table
    assert "exploratory" in table


def test_no_slice_without_record_tags() -> None:
    report = compare(*_pair(HARD_DROP))
    assert report.slices == [] and report.slices_skipped == []
    assert "Slices by tag" not in render_comment(GateResult(reports=[report]), CONTEXT)


def test_a_gated_slice_fails_the_gate() -> None:
    # -28 points overall is within the metric's (here large) minimum effect, so the whole
    # experiment passes; the gated slice has its own, and its -83 points fail it.
    config = parse_config(
        {
            "metrics": {"correct": {"min_effect": 0.5}},
            "slices": {"difficulty:hard": {"level": "fail", "min_effect": 0.1}},
        }
    )
    base, cand = _pair(HARD_DROP, _tags())
    report = compare(base, cand, config)
    assert next(m for m in report.metrics if m.name == "correct").gate == "pass"
    hard = _by(report, "difficulty:hard")
    assert hard.gated and hard.metric.gate == "fail" and hard.tests == 2
    assert report.verdict == "fail"
    assert all(s.tag != "difficulty:hard" or s.gated for s in report.slices)
    # a report read back (a fork's artifact) keeps the failing slice
    claimed = report.model_copy(update={"verdict": "pass"})
    assert recheck_report(claimed).verdict == "fail"
    unchanged = compare(*_pair(set(), _tags()), config)
    assert unchanged.verdict == "pass"


def test_a_gated_slice_that_matches_no_tag_is_said() -> None:
    config = parse_config({"slices": {"difficulty:hrad": {}}})
    report = compare(*_pair(HARD_DROP, _tags()), config)
    assert any("difficulty:hrad" in w and "matches no record tag" in w for w in report.warnings)


def test_keys_with_one_value_or_too_many_and_small_slices_are_skipped() -> None:
    tags = [
        (
            "source:faq",
            f"id:{i}",
            f"difficulty:{LEVELS[i % 3]}",
            "rare:yes" if i < MIN_RECORDS - 1 else "rare:no",
        )
        for i in range(N)
    ]
    report = compare(*_pair(HARD_DROP, tags))
    assert {s.key for s in report.slices} == {"difficulty", "rare"}
    assert {s.tag for s in report.slices if s.key == "rare"} == {"rare:no"}
    skipped = " ; ".join(report.slices_skipped)
    assert "source: one value only" in skipped
    assert f"id: {N} values (more than {MAX_VALUES})" in skipped
    assert "rare: 1 value(s) with fewer than" in skipped


@settings(max_examples=30, deadline=None)
@given(
    flips=st.lists(st.booleans(), min_size=N, max_size=N),
    groups=st.integers(min_value=2, max_value=6),
)
def test_exploratory_adjustment_properties(flips: list[bool], groups: int) -> None:
    tags = [(f"g:{i % groups}",) for i in range(N)]
    report = compare(*_pair({i for i, f in enumerate(flips) if f}, tags))
    tested = [s for s in report.slices if s.metric.p_value is not None]
    for s in report.slices:
        assert not s.gated and s.metric.gate == "pass"
        assert s.tests == len(report.slices)
    for s in tested:
        assert s.metric.p_value_unadjusted is not None
        # Holm never makes a p-value smaller, nor more than (tests) times larger
        assert s.metric.p_value >= s.metric.p_value_unadjusted - 1e-12
        assert s.metric.p_value <= min(1.0, s.tests * s.metric.p_value_unadjusted) + 1e-12
        if s.metric.verdict == "regressed":
            assert s.metric.p_value < 0.05 and s.changed
    # the slices of one key partition the records
    assert sum(s.metric.n for s in report.slices if s.metric.name == "correct") == N


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"slices": {"hard": {}}}, 'slices.hard = "hard" is not valid'),
        ({"slices": {"a:b": {"level": "loud"}}}, 'slices."a:b".level = "loud"'),
        ({"slices": {"a:b": {"alpha": 0.7}}}, 'slices."a:b".alpha = 0.7'),
        ({"slices": {"a:b": {"min_effect": -1}}}, 'slices."a:b".min_effect = -1'),
        ({"slices": {"a:b": {"colour": 1}}}, 'unknown key slices."a:b".colour'),
        ({"slices": ["a:b"]}, "slices = an array is not valid"),
    ],
)
def test_slice_config_errors_name_the_key(table: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(")):
        parse_config(table)


def test_slice_config_parses() -> None:
    config = parse_config(
        {"slices": {"difficulty:hard": {"level": "warn", "alpha": 0.1, "min_effect": "5%"}}}
    )
    (gate,) = config.slices
    assert (gate.tag, gate.level, gate.alpha, str(gate.min_effect)) == (
        "difficulty:hard",
        "warn",
        0.1,
        "5%",
    )
    assert parse_config({"slices": {"a:b": {}}}).slices[0].level == "fail"
