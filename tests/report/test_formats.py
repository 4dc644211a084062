"""Numbers as the report shows them."""

from __future__ import annotations

from typing import Any

import pytest

from driftgate.compare.schema import Metric
from driftgate.report import formats


def metric(**kw: Any) -> Metric:
    base: dict[str, Any] = {
        "name": "m",
        "kind": "boolean",
        "direction": "higher",
        "baseline": 0.8,
        "candidate": 0.6,
        "delta": -0.2,
        "ci_low": -0.3,
        "ci_high": -0.1,
        "p_value": 0.01,
        "n": 10,
        "verdict": "regressed",
        "gate": "fail",
        "level": "fail",
        "unit": "pass rate",
    }
    return Metric(**{**base, **kw})


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (0.78758, "0.788"),
        (0.6205, "0.621"),
        (9.996, "10"),
        (18.407, "18.4"),
        (12345.6, "12,346"),
        (0.0021, "0.0021"),
        (0.00002, "2e-05"),
        (0.0, "0"),
        (-0.16713, "-0.167"),
        (None, "—"),
        (float("nan"), "—"),
    ],
)
def test_number(value: float | None, shown: str) -> None:
    assert formats.number(value) == shown


def test_signed_numbers_and_rates() -> None:
    assert formats.number(0.0741, signed=True) == "+0.0741"
    assert formats.pct(0.77193) == "77.2%"
    assert formats.pts(-0.21053) == "-21.1 pts"
    assert formats.pts(0.0) == "0.0 pts"
    assert formats.relative(-0.279) == "-28%"
    assert formats.relative(0.004) == "+0.4%"


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0.00085, "850 µs"),
        (0.001757, "1.76 ms"),
        (1.234, "1.23 s"),
        (125.2, "2 min 5 s"),
        (3725, "1 h 2 min"),
        (0, "0 s"),
    ],
)
def test_duration(seconds: float, shown: str) -> None:
    assert formats.duration(seconds) == shown
    assert formats.duration(-0.00325, signed=True) == "-3.25 ms"


def test_p_values() -> None:
    assert formats.pvalue(0.0004) == "<0.001"
    assert formats.pvalue(0.026041) == "0.026"
    assert formats.pvalue(1.0) == "1"
    assert formats.pvalue(None) == "—"


def test_change_interval_and_min_effect_follow_the_unit() -> None:
    rate = metric()
    assert formats.change(rate) == "-20.0 pts"
    assert formats.interval(rate) == "[-30.0, -10.0] pts"
    assert formats.min_effect(rate.model_copy(update={"min_effect": 0.02})) == "±2.0 pts"
    latency = metric(
        kind="latency", direction="lower", unit="seconds", baseline=0.0018, candidate=0.0019,
        delta=0.0001, relative_delta=0.0556, ci_low=None, ci_high=None,
        min_effect=0.00044, min_effect_rule="25%",
    )  # fmt: skip
    assert formats.change(latency) == "+100 µs (+5.6%)"
    assert formats.interval(latency) == "—"
    assert formats.min_effect(latency) == "±440 µs (25%)"
    # The rule is data when a report.json says it (`driftgate publish`): escaped.
    forged = latency.model_copy(update={"min_effect_rule": "<img src=x>|@octocat 25%"})
    assert formats.min_effect(forged) == "±440 µs (&lt;img src=x&gt;\\|@\u200boctocat 25%)"
    score = metric(kind="score", unit="score", delta=-0.167, relative_delta=-0.21)
    assert formats.change(score) == "-0.167 (-21%)"
    assert formats.interval(score.model_copy(update={"ci_low": 0.0})) == "[0, -0.1]"


@pytest.mark.parametrize(
    ("direction", "delta", "shown"),
    [
        ("higher", -0.1, "🔻"),  # down, and down is worse
        ("higher", 0.1, "▲"),
        ("lower", 0.1, "🔺"),  # latency up: worse
        ("lower", -0.1, "▼"),
        ("none", 0.1, "▲"),
        ("higher", 0.0, ""),
        ("higher", None, ""),
    ],
)
def test_arrow_says_worse_in_red(direction: str, delta: float | None, shown: str) -> None:
    assert formats.arrow(metric(direction=direction, delta=delta)) == shown


def test_trend_puts_the_arrow_first_only_when_it_moved() -> None:
    assert formats.trend(metric()) == "🔻 -20.0 pts"
    assert formats.trend(metric(delta=0.0)) == "0.0 pts"


def test_record_values() -> None:
    assert formats.record_value(1.0, "pass rate") == "pass"
    assert formats.record_value(0.0, "pass rate") == "fail"
    assert formats.record_value(2 / 3, "pass rate") == "67% pass"
    assert formats.record_value(1.0, "error rate") == "error"
    assert formats.record_value(0.30769, "score") == "0.308"


def test_badges() -> None:
    assert formats.verdict_badge("fail") == "❌ failed"
    assert formats.verdict_badge("no_baseline") == "⚪ no baseline"
    assert formats.gate_badge(metric()) == "❌ fail"
    assert formats.gate_badge(metric(gate="pass", level="off")) == "off"
    assert formats.count(1, "record") == "1 record"
    assert formats.count(20000, "record") == "20,000 records"
