"""Gate configuration: defaults, rules, budgets, and messages that name file, key and value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from driftgate.config import (
    ConfigError,
    GateConfig,
    Tolerance,
    absolute,
    find_config,
    load_config,
    parse_config,
    percent,
)


def error_of(data: dict[str, Any], **kwargs: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(data, **kwargs)
    return str(caught.value)


def latency(share: float, floor: float = 0.05) -> Tolerance:
    return percent(share).model_copy(update={"floor": floor})


def test_defaults_without_any_file(tmp_path: Path) -> None:
    config = load_config(directory=tmp_path)
    assert config == GateConfig()
    assert config.alpha == 0.05
    assert config.source == "defaults"
    boolean = config.policy("correct", "boolean")
    assert (boolean.direction, boolean.min_effect, boolean.level) == (
        "higher",
        absolute(0.02),
        "fail",
    )
    assert config.policy("quality", "score").min_effect == percent(2)
    assert config.policy("f1", "summary").level == "off"  # reported, gated only on request
    budgets = config.budgets
    assert (budgets.errors.max_increase, budgets.errors.level) == (absolute(0.02), "fail")
    assert (budgets.tokens.max_increase, budgets.tokens.level) == (percent(20), "warn")
    assert (budgets.cost.max_increase, budgets.cost.level) == (percent(20), "warn")
    # Relative, with a floor: a rise under 50 ms is never a latency regression.
    assert budgets.latency_p50.max_increase == latency(25)
    assert budgets.latency_p95.max_increase == latency(50)
    assert budgets.latency_p50.max_increase.resolve(0.009) == 0.05
    assert budgets.latency_p50.max_increase.resolve(2.0) == 0.5


def test_tolerance_resolves_absolute_and_relative() -> None:
    assert absolute(0.02).resolve(0.7) == 0.02
    assert percent(5).resolve(-200.0) == pytest.approx(10.0)
    assert percent(5).resolve(None) == 0.0
    assert str(percent(5)) == "5%"
    assert str(absolute(0.02)) == "0.02"
    assert Tolerance(value=0.125, relative=True).resolve(8.0) == 1.0


def test_rules_merge_in_file_order_later_wins() -> None:
    config = parse_config(
        {
            "alpha": 0.1,
            "metrics": {
                "*": {"level": "warn", "min_effect": "10%"},
                "tox*": {"direction": "lower", "min_effect": 0.01},
                "toxicity_v2": {"level": "off"},
                "grade": {"pass_values": ["A", "B"]},
            },
        }
    )
    assert config.alpha == 0.1
    tox = config.policy("toxicity_v2", "score")
    assert (tox.direction, tox.min_effect, tox.level) == ("lower", absolute(0.01), "off")
    other = config.policy("correct", "boolean")
    assert (other.direction, other.min_effect, other.level) == ("higher", percent(10), "warn")
    assert config.policy("grade", "categorical").pass_values == ("A", "B")
    assert config.policy("Toxicity", "score").direction == "higher"  # globs are case-sensitive


def test_budgets_full_and_shorthand_forms() -> None:
    config = parse_config(
        {
            "budgets": {
                "errors": 0.05,
                "cost": {"max_increase": "10%", "level": "fail"},
                "tokens": {"level": "off"},
                "latency": {"p95": "100%", "level": "fail"},
            }
        }
    )
    b = config.budgets
    assert (b.errors.max_increase, b.errors.level) == (absolute(0.05), "fail")
    assert (b.cost.max_increase, b.cost.level) == (percent(10), "fail")
    assert (b.tokens.max_increase, b.tokens.level) == (percent(20), "off")
    assert (b.latency_p50.max_increase, b.latency_p50.level) == (latency(25), "fail")
    assert (b.latency_p95.max_increase, b.latency_p95.level) == (latency(100), "fail")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"alpha": 0.7},
            "driftgate.toml: alpha = 0.7 is not valid; expected a number greater than 0 and "
            "less than 0.5, such as 0.05",
        ),
        ({"alpha": True}, "alpha = true is not valid"),
        (
            {"metrics": {"tox*": {"level": "fatal"}}},
            'driftgate.toml: metrics."tox*".level = "fatal" is not valid; '
            "expected one of: fail, warn, off",
        ),
        (
            {"metrics": {"correct": {"direction": "up"}}},
            'metrics.correct.direction = "up" is not valid; expected one of: higher, lower',
        ),
        (
            {"metrics": {"correct": {"min_effect": "five"}}},
            'metrics.correct.min_effect = "five" is not valid; expected a number >= 0 '
            '(absolute) or a percentage string such as "5%"',
        ),
        ({"metrics": {"correct": {"min_effect": -1}}}, "metrics.correct.min_effect = -1"),
        (
            {"metrics": {"correct": {"levle": "warn"}}},
            "driftgate.toml: unknown key metrics.correct.levle; allowed keys here: "
            "direction, min_effect, level, pass_values",
        ),
        ({"metrics": {"g": {"pass_values": []}}}, "metrics.g.pass_values = an array"),
        ({"metrics": 3}, "metrics = 3 is not valid; expected a table of rules keyed by"),
        ({"metrics": {"": {}}}, "a metric-name glob cannot be empty"),
        (
            {"incomplete": "error"},
            'driftgate.toml: incomplete = "error" is not valid; expected one of: fail, warn, off',
        ),
        (
            {"alhpa": 0.05},
            "driftgate.toml: unknown key alhpa; allowed keys here: "
            "alpha, metrics, budgets, incomplete",
        ),
        (
            {"budgets": {"errors": 2}},
            "budgets.errors = 2 is not valid; the error rate is a fraction from 0 to 1: "
            'write 0.02 for 2 points, or a relative increase such as "50%"',
        ),
        (
            {"budgets": {"latency": {"p99": "10%"}}},
            "unknown key budgets.latency.p99; allowed keys here: p50, p95, level, min_seconds",
        ),
        (
            {"budgets": {"cost": {"level": "loud"}}},
            'budgets.cost.level = "loud" is not valid; expected one of: fail, warn, off',
        ),
        (
            {"budgets": {"memory": "10%"}},
            "unknown key budgets.memory; allowed keys here: errors, tokens, cost, latency",
        ),
        (
            {"history": {"runs": 21}},
            "driftgate.toml: history.runs = 21 is not valid; expected a whole number of "
            "base-branch runs from 1 to 20 (1: one baseline run, no history)",
        ),
        ({"history": {"runs": 2.5}}, "history.runs = 2.5 is not valid"),
        ({"history": {"runs": False}}, "history.runs = false is not valid"),
        ({"history": {"confirm": 1}}, "history.confirm = 1 is not valid; expected true or false"),
        ({"history": 5}, "history = 5 is not valid; expected a table (runs, confirm, keep)"),
        (
            {"history": {"kept": 5}},
            "unknown key history.kept; allowed keys here: runs, confirm, keep",
        ),
        ({"history": {"keep": 0}}, "history.keep = 0 is not valid; expected a whole number"),
    ],
)
def test_errors_name_the_file_the_key_the_value_and_what_is_allowed(
    data: dict[str, Any], expected: str
) -> None:
    assert expected in error_of(data)


def test_history_defaults_to_five_runs_confirmed_and_reads_both_keys() -> None:
    assert parse_config({}).history.model_dump() == {"runs": 5, "confirm": True, "keep": 50}
    read = parse_config({"history": {"runs": 1, "confirm": False, "keep": 20}}).history
    assert read.model_dump() == {"runs": 1, "confirm": False, "keep": 20}


def test_errors_in_pyproject_name_the_full_key(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[tool.driftgate.metrics."a b"]\nlevel = "never"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(pyproject)
    assert str(caught.value) == (
        f'{pyproject}: tool.driftgate.metrics."a b".level = "never" is not valid; '
        "expected one of: fail, warn, off"
    )


def test_load_finds_driftgate_toml_before_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.driftgate]\nalpha = 0.01\n")
    assert find_config(tmp_path) == tmp_path / "pyproject.toml"
    assert load_config(directory=tmp_path).alpha == 0.01
    (tmp_path / "driftgate.toml").write_text("alpha = 0.02\n")
    config = load_config(directory=tmp_path)
    assert config.alpha == 0.02
    assert config.source == str(tmp_path / "driftgate.toml")


def test_a_pyproject_without_our_table_is_ignored_when_searching(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.ruff]\nline-length = 100\n")
    assert find_config(tmp_path) is None
    assert load_config(directory=tmp_path) == GateConfig()
    with pytest.raises(ConfigError, match=r"pyproject.toml: has no \[tool.driftgate\] table"):
        load_config(tmp_path / "pyproject.toml")


def test_load_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(tmp_path / "missing.toml")
    broken = tmp_path / "driftgate.toml"
    broken.write_text("alpha = \n")
    with pytest.raises(ConfigError, match=r"driftgate.toml: not valid TOML: .*line 1"):
        load_config(broken)


def test_a_full_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "gate.toml"
    path.write_text(
        """
alpha = 0.05

[metrics."correct*"]
min_effect = 0.03

[metrics.toxicity]
direction = "lower"
min_effect = "10%"
level = "warn"

[budgets]
errors = { max_increase = 0.01, level = "fail" }
cost = "15%"

[budgets.latency]
p50 = "30%"
p95 = "60%"
level = "warn"
"""
    )
    config = load_config(path)
    assert [r.pattern for r in config.metrics] == ["correct*", "toxicity"]
    assert config.policy("correct_v2", "boolean").min_effect == absolute(0.03)
    assert config.policy("toxicity", "score").level == "warn"
    assert config.budgets.cost.max_increase == percent(15)
    assert config.budgets.latency_p95.max_increase == latency(60)


def test_incomplete_warns_by_default_and_is_configurable() -> None:
    assert GateConfig().incomplete == "warn"
    for level in ("fail", "warn", "off"):
        assert parse_config({"incomplete": level}).incomplete == level


def test_latency_floor_is_configurable() -> None:
    config = parse_config({"budgets": {"latency": {"min_seconds": 0.2}}}, source="driftgate.toml")
    assert config.budgets.latency_p95.max_increase == latency(50, 0.2)
    with pytest.raises(ConfigError, match=r"budgets.latency.min_seconds = \"soon\" is not valid"):
        parse_config({"budgets": {"latency": {"min_seconds": "soon"}}}, source="driftgate.toml")


def test_the_search_goes_up_to_the_root_and_no_further(tmp_path: Path) -> None:
    root, deep = tmp_path / "repo", tmp_path / "repo" / "evals" / "suite"
    deep.mkdir(parents=True)
    (tmp_path / "driftgate.toml").write_text("alpha = 0.03\n")  # above the root: not ours
    assert find_config(deep, root) is None
    (root / "driftgate.toml").write_text("alpha = 0.02\n")
    assert find_config(deep, root) == root / "driftgate.toml"
    assert load_config(directory=deep, root=root).alpha == 0.02
    # A pyproject.toml without our table on the way is passed over, not a stop.
    (root / "evals" / "pyproject.toml").write_text("[tool.ruff]\nline-length = 100\n")
    assert find_config(deep, root) == root / "driftgate.toml"
    # Without a root (outside a repository), only the directory itself is looked in.
    assert find_config(deep) is None
