"""Gate configuration: `driftgate.toml`, or `[tool.driftgate]` in `pyproject.toml`.

`parse_config` is a pure function of the parsed TOML (so every message is testable);
`load_config` only finds and reads the file. Every validation error is a `ConfigError`
naming the file, the dotted key, the bad value and what is allowed. The format and the
reasons for the defaults are in docs/config.md.
"""

from __future__ import annotations

import difflib
import fnmatch
import json
import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast, get_args

from pydantic import BaseModel, ConfigDict, Field

from driftgate.errors import UsageError

Level = Literal["fail", "warn", "off"]
Direction = Literal["higher", "lower"]
EvaluatorKind = Literal["boolean", "score", "categorical", "summary"]

CONFIG_FILE = "driftgate.toml"
MAX_HISTORY_RUNS = 20
MAX_KEPT_RUNS = 1000
PYPROJECT = "pyproject.toml"
LEVELS: tuple[str, ...] = get_args(Level)
DIRECTIONS: tuple[str, ...] = get_args(Direction)
_PERCENT = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*%\s*$")
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


class ConfigError(UsageError):
    """An invalid configuration (exit 2). The message says where, what, and what is allowed."""


class Tolerance(BaseModel):
    """An absolute amount in the metric's unit, or a share of the baseline's value."""

    model_config = ConfigDict(frozen=True)

    value: float = Field(ge=0)
    relative: bool = False
    # The smallest absolute tolerance a relative one resolves to: 50% of a 9 ms latency is
    # jitter, not a regression.
    floor: float = Field(default=0.0, ge=0)

    def resolve(self, reference: float | None) -> float:
        """The absolute tolerance around `reference` (the baseline's value)."""
        if not self.relative:
            return self.value
        if reference is None or not math.isfinite(reference):
            return self.floor
        return max(self.value * abs(reference), self.floor)

    def __str__(self) -> str:
        return f"{self.value * 100:g}%" if self.relative else f"{self.value:g}"


def absolute(value: float) -> Tolerance:
    return Tolerance(value=value)


def percent(value: float) -> Tolerance:
    return Tolerance(value=value / 100, relative=True)


class MetricRule(BaseModel):
    """Settings for the evaluator metrics whose names match `pattern` (a glob)."""

    model_config = ConfigDict(frozen=True)

    pattern: str
    direction: Direction | None = None
    min_effect: Tolerance | None = None
    level: Level | None = None
    pass_values: tuple[str, ...] | None = None


class Budget(BaseModel):
    """How far a cost of running may rise before the gate says so."""

    model_config = ConfigDict(frozen=True)

    max_increase: Tolerance
    level: Level


LATENCY_FLOOR_S = 0.05


class Budgets(BaseModel):
    model_config = ConfigDict(frozen=True)

    errors: Budget = Budget(max_increase=absolute(0.02), level="fail")
    tokens: Budget = Budget(max_increase=percent(20), level="warn")
    cost: Budget = Budget(max_increase=percent(20), level="warn")
    latency_p50: Budget = Budget(
        max_increase=percent(25).model_copy(update={"floor": LATENCY_FLOOR_S}), level="warn"
    )
    latency_p95: Budget = Budget(
        max_increase=percent(50).model_copy(update={"floor": LATENCY_FLOOR_S}), level="warn"
    )


@dataclass(frozen=True, slots=True)
class MetricPolicy:
    """The settings that apply to one evaluator metric once defaults and rules are merged."""

    direction: Direction
    min_effect: Tolerance
    level: Level
    pass_values: tuple[str, ...] | None = None


# Per kind of evaluator, before any rule: see docs/config.md for the reasons.
DEFAULT_POLICIES: dict[EvaluatorKind, MetricPolicy] = {
    "boolean": MetricPolicy("higher", absolute(0.02), "fail"),
    "categorical": MetricPolicy("higher", absolute(0.02), "fail"),
    "score": MetricPolicy("higher", percent(2), "fail"),
    # One value per run and no test: reported, gated only when the config asks (a 5% swing
    # of a 100-record accuracy is everyday noise).
    "summary": MetricPolicy("higher", percent(5), "off"),
}


class SliceGate(BaseModel):
    """A slice of the records (those whose dataset record carries the tag `tag`, a
    `key:value`) gated like a metric: every gated pass-rate or score metric is tested within
    it at its own `alpha`, and a regression there does what `level` says."""

    model_config = ConfigDict(frozen=True)

    tag: str
    level: Level = "fail"
    alpha: float | None = None  # None: the configuration's alpha
    min_effect: Tolerance | None = None  # None: each metric's own


class HistoryConfig(BaseModel):
    """How many base-branch runs make the baseline (docs/statistics.md, "A baseline from
    history"): `runs = 1` is one run per side."""

    model_config = ConfigDict(frozen=True)

    runs: int = Field(default=5, ge=1, le=MAX_HISTORY_RUNS)
    # A change the pooled runs show must also show against the newest base run alone: what
    # keeps false alarms at alpha when the base branch changed by an amount nothing declares.
    confirm: bool = True
    # Runs of each pipeline the data branch keeps (docs/history.md).
    keep: int = Field(default=50, ge=1, le=MAX_KEPT_RUNS)


class GateConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    alpha: float = Field(default=0.05, gt=0, lt=0.5)
    metrics: tuple[MetricRule, ...] = ()
    budgets: Budgets = Budgets()
    # A run with fewer task spans than its dataset version has records (ddtrace gave up on
    # an unreachable backend and still exited 0): said as a warning unless configured.
    incomplete: Level = "warn"
    # A query (docs/query.md) restricting every comparison to the records it matches;
    # read by the session, which knows the language (this room may not import it).
    where: str | None = None
    where_key: str = "where"
    """`where`'s dotted key in its file (`tool.driftgate.where` in pyproject.toml)."""
    slices: tuple[SliceGate, ...] = ()
    history: HistoryConfig = HistoryConfig()
    source: str = "defaults"

    def policy(self, name: str, kind: EvaluatorKind) -> MetricPolicy:
        """Defaults for `kind`, then every rule matching `name` in file order (later wins)."""
        policy = DEFAULT_POLICIES[kind]
        for rule in self.metrics:
            if fnmatch.fnmatchcase(name, rule.pattern):
                policy = MetricPolicy(
                    direction=rule.direction or policy.direction,
                    min_effect=rule.min_effect or policy.min_effect,
                    level=rule.level or policy.level,
                    pass_values=rule.pass_values
                    if rule.pass_values is not None
                    else policy.pass_values,
                )
        return policy


def unmatched_rules(config: GateConfig, evaluators: Iterable[str]) -> list[str]:
    """One warning per `[metrics.<glob>]` rule that matches none of `evaluators` (the labels
    of the compared experiments' evaluators), naming the nearest labels. Such a rule is
    ignored, so the metric it meant gets the default rule: a misspelt name must not pass
    for a configured one in silence."""
    names = sorted(set(evaluators))
    if not names:
        return []
    warnings = []
    for rule in config.metrics:
        if any(fnmatch.fnmatchcase(name, rule.pattern) for name in names):
            continue
        key = rule.pattern if _BARE_KEY.match(rule.pattern) else json.dumps(rule.pattern)
        near = _nearest(rule.pattern, names)
        if near:
            hint = f"did you mean {' or '.join(repr(n) for n in near)}?"
        else:
            shown = ", ".join(repr(n) for n in names[:8])
            more = f" and {len(names) - 8} more" if len(names) > 8 else ""
            hint = f"the evaluators are {shown}{more}"
        warnings.append(
            f"{config.source}: the rule [metrics.{key}] matches no evaluator of the compared "
            f"experiments ({hint}); it is ignored and the default rule applies: rename it "
            "to the evaluator's label"
        )
    return warnings


def _nearest(word: str, names: list[str]) -> list[str]:
    """The names `word` most likely misspells: difflib's close matches, the best first,
    without the ones far behind the best (a one-letter typo needs no runner-up)."""
    scored = []
    for name in names:
        score = difflib.SequenceMatcher(None, word, name).ratio()
        if score >= 0.6:
            scored.append((score, name))
    scored.sort(key=lambda pair: (-pair[0], pair[1]))
    return [name for score, name in scored[:3] if score >= scored[0][0] - 0.1]


# ---------------------------------------------------------------- parsing (pure)

TOP_LEVEL_KEYS = ("alpha", "metrics", "budgets", "incomplete", "where", "slices", "history")
HISTORY_KEYS = ("runs", "confirm", "keep")
SLICE_KEYS = ("level", "alpha", "min_effect")
RULE_KEYS = ("direction", "min_effect", "level", "pass_values")
BUDGET_KEYS = ("max_increase", "level")
LATENCY_KEYS = ("p50", "p95", "level", "min_seconds")
BUDGET_NAMES = ("errors", "tokens", "cost", "latency")


@dataclass(frozen=True, slots=True)
class _Where:
    """A position in the file, for messages: the file and the dotted key."""

    source: str
    path: tuple[str, ...]

    def __truediv__(self, key: str) -> _Where:
        return _Where(self.source, (*self.path, key))

    @property
    def key(self) -> str:
        return ".".join(p if _BARE_KEY.match(p) else json.dumps(p) for p in self.path)

    def error(self, value: Any, allowed: str) -> ConfigError:
        return ConfigError(f"{self.source}: {self.key} = {_show(value)} is not valid; {allowed}")

    def unknown(self, extra: str, allowed: tuple[str, ...]) -> ConfigError:
        return ConfigError(
            f"{self.source}: unknown key {(self / extra).key}; "
            f"allowed keys here: {', '.join(allowed)}"
        )


def _show(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return repr(value)


def _table(value: Any, where: _Where, allowed: tuple[str, ...], what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise where.error(value, f"expected a table ({what})")
    for key in value:
        if key not in allowed:
            raise where.unknown(key, allowed)
    return value


def _choice(value: Any, where: _Where, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise where.error(value, f"expected one of: {', '.join(choices)}")
    return value


def _level(value: Any, where: _Where) -> Level:
    return cast(Level, _choice(value, where, LEVELS))


def _direction(value: Any, where: _Where) -> Direction:
    return cast(Direction, _choice(value, where, DIRECTIONS))


def _tolerance(value: Any, where: _Where, *, fraction: bool = False) -> Tolerance:
    allowed = 'expected a number >= 0 (absolute) or a percentage string such as "5%"'
    if isinstance(value, bool):
        raise where.error(value, allowed)
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise where.error(value, allowed)
        if fraction and value > 1:
            raise where.error(
                value,
                "the error rate is a fraction from 0 to 1: write 0.02 for 2 points, "
                'or a relative increase such as "50%"',
            )
        return absolute(float(value))
    if isinstance(value, str) and (match := _PERCENT.match(value)):
        return percent(float(match.group(1)))
    raise where.error(value, allowed)


def _alpha(value: Any, where: _Where) -> float:
    allowed = "expected a number greater than 0 and less than 0.5, such as 0.05"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise where.error(value, allowed)
    if not 0 < value < 0.5:
        raise where.error(value, allowed)
    return float(value)


def _rule(pattern: str, value: Any, where: _Where) -> MetricRule:
    if not pattern:
        raise where.error(pattern, "a metric-name glob cannot be empty")
    table = _table(value, where, RULE_KEYS, "direction, min_effect, level, pass_values")
    pass_values = table.get("pass_values")
    if pass_values is not None and (
        not isinstance(pass_values, list)
        or not pass_values
        or not all(isinstance(v, str) for v in pass_values)
    ):
        raise (where / "pass_values").error(
            pass_values, "expected a non-empty array of category strings"
        )
    return MetricRule(
        pattern=pattern,
        direction=_direction(table["direction"], where / "direction")
        if "direction" in table
        else None,
        min_effect=_tolerance(table["min_effect"], where / "min_effect")
        if "min_effect" in table
        else None,
        level=_level(table["level"], where / "level") if "level" in table else None,
        pass_values=tuple(pass_values) if pass_values is not None else None,
    )


def _slice(tag: str, value: Any, where: _Where) -> SliceGate:
    key, sep, rest = tag.partition(":")
    if not sep or not key.strip() or not rest.strip():
        raise where.error(
            tag, 'a slice is named by a record tag "key:value", e.g. [slices."difficulty:hard"]'
        )
    table = _table(value, where, SLICE_KEYS, ", ".join(SLICE_KEYS))
    return SliceGate(
        tag=tag,
        level=_level(table["level"], where / "level") if "level" in table else "fail",
        alpha=_alpha(table["alpha"], where / "alpha") if "alpha" in table else None,
        min_effect=_tolerance(table["min_effect"], where / "min_effect")
        if "min_effect" in table
        else None,
    )


def _budget(value: Any, where: _Where, default: Budget, *, fraction: bool) -> Budget:
    # Shorthand: `cost = "20%"` sets the limit and keeps the default level.
    if not isinstance(value, dict):
        return Budget(max_increase=_tolerance(value, where, fraction=fraction), level=default.level)
    table = _table(value, where, BUDGET_KEYS, "max_increase, level")
    return Budget(
        max_increase=_tolerance(table["max_increase"], where / "max_increase", fraction=fraction)
        if "max_increase" in table
        else default.max_increase,
        level=_level(table["level"], where / "level") if "level" in table else default.level,
    )


def _budgets(value: Any, where: _Where) -> Budgets:
    table = _table(value, where, BUDGET_NAMES, "errors, tokens, cost, latency")
    defaults = Budgets()
    found: dict[str, Budget] = {}
    for name in ("errors", "tokens", "cost"):
        if name in table:
            found[name] = _budget(
                table[name], where / name, getattr(defaults, name), fraction=name == "errors"
            )
    if "latency" in table:
        latency = _table(
            table["latency"], where / "latency", LATENCY_KEYS, "p50, p95, level, min_seconds"
        )
        level = defaults.latency_p50.level
        if "level" in latency:
            level = _level(latency["level"], where / "latency" / "level")
        floor = LATENCY_FLOOR_S
        if "min_seconds" in latency:
            raw = latency["min_seconds"]
            if isinstance(raw, bool) or not isinstance(raw, int | float) or raw < 0:
                raise (where / "latency" / "min_seconds").error(raw, "a number of seconds >= 0")
            floor = float(raw)
        for quantile in ("p50", "p95"):
            default = getattr(defaults, f"latency_{quantile}")
            limit = default.max_increase
            if quantile in latency:
                limit = _tolerance(latency[quantile], where / "latency" / quantile)
            limit = limit.model_copy(update={"floor": floor})
            found[f"latency_{quantile}"] = Budget(max_increase=limit, level=level)
    return defaults.model_copy(update=found)


def parse_config(
    data: Mapping[str, Any], *, source: str = CONFIG_FILE, prefix: tuple[str, ...] = ()
) -> GateConfig:
    """Validate parsed TOML into a `GateConfig`; `prefix` is where the table sits in the file."""
    where = _Where(source, prefix)
    table = _table(dict(data), where, TOP_LEVEL_KEYS, ", ".join(TOP_LEVEL_KEYS))
    config: dict[str, Any] = {"source": source}
    if "alpha" in table:
        config["alpha"] = _alpha(table["alpha"], where / "alpha")
    if "metrics" in table:
        rules = table["metrics"]
        if not isinstance(rules, dict):
            raise (where / "metrics").error(
                rules,
                'expected a table of rules keyed by metric-name glob, e.g. [metrics."correct*"]',
            )
        config["metrics"] = tuple(
            _rule(pattern, rule, where / "metrics" / pattern) for pattern, rule in rules.items()
        )
    if "budgets" in table:
        config["budgets"] = _budgets(table["budgets"], where / "budgets")
    if "incomplete" in table:
        config["incomplete"] = _level(table["incomplete"], where / "incomplete")
    if "where" in table:
        value = table["where"]
        if not isinstance(value, str):
            raise (where / "where").error(
                value, 'expected a query string such as "difficulty:hard" (docs/query.md)'
            )
        config["where"], config["where_key"] = value, (where / "where").key
    if "slices" in table:
        slices = table["slices"]
        if not isinstance(slices, dict):
            raise (where / "slices").error(
                slices, 'expected a table of slices keyed by record tag, e.g. [slices."a:b"]'
            )
        config["slices"] = tuple(
            _slice(tag, gate, where / "slices" / tag) for tag, gate in slices.items()
        )
    if "history" in table:
        config["history"] = _history(table["history"], where / "history")
    return GateConfig(**config)


def _history(value: Any, where: _Where) -> HistoryConfig:
    table = _table(value, where, HISTORY_KEYS, ", ".join(HISTORY_KEYS))
    found: dict[str, Any] = {}
    if "runs" in table:
        found["runs"] = _whole(
            table["runs"],
            where / "runs",
            MAX_HISTORY_RUNS,
            "base-branch runs from 1 to {high} (1: one baseline run, no history)",
        )
    if "confirm" in table:
        confirm = table["confirm"]
        if not isinstance(confirm, bool):
            raise (where / "confirm").error(confirm, "expected true or false")
        found["confirm"] = confirm
    if "keep" in table:
        found["keep"] = _whole(
            table["keep"],
            where / "keep",
            MAX_KEPT_RUNS,
            "runs from 1 to {high}: how many of each pipeline's runs the data branch keeps",
        )
    return HistoryConfig(**found)


def _whole(value: Any, where: _Where, high: int, what: str) -> int:
    """A whole number from 1 to `high`; else the error, saying `what` it counts."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise where.error(value, "expected a whole number of " + what.format(high=high))
    return value


def where_error(config: GateConfig, problem: str) -> ConfigError:
    """`where` in `config`'s file cannot be read as a query: `problem` says where in it
    and what was expected (its column, then the query and a caret)."""
    return ConfigError(
        f"{config.source}: {config.where_key} = {_show(config.where)} is not valid; {problem}"
    )


# ---------------------------------------------------------------- loading (the only I/O)


def find_config(directory: Path, root: Path | None = None) -> Path | None:
    """`driftgate.toml` in `directory`, else its `pyproject.toml` if it has [tool.driftgate];
    else the same in each parent up to `root` (the repository's root), nearest first: run
    from a subdirectory, the gate finds the configuration at the root, as it finds the
    store."""
    for folder in _up_to(directory, root):
        own = folder / CONFIG_FILE
        if own.is_file():
            return own
        pyproject = folder / PYPROJECT
        if pyproject.is_file() and "driftgate" in _read(pyproject).get("tool", {}):
            return pyproject
    return None


def _up_to(directory: Path, root: Path | None) -> list[Path]:
    here = directory.resolve()
    top = root.resolve() if root is not None else None
    if top is None or not here.is_relative_to(top):
        return [here]
    return [here, *[p for p in here.parents if p.is_relative_to(top)]]


def load_config(
    path: str | Path | None = None, *, directory: Path | None = None, root: Path | None = None
) -> GateConfig:
    """The configuration in `path`, or the one found from `directory` (default: the current
    directory) up to `root`, or the defaults when there is none."""
    if path is None:
        found = find_config(directory or Path.cwd(), root)
        if found is None:
            return GateConfig()
        path = found
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"{path}: no such configuration file; pass an existing driftgate.toml or "
            "pyproject.toml, or none to use the defaults"
        )
    data = _read(path)
    if path.name == PYPROJECT:
        tool = data.get("tool", {})
        if not isinstance(tool, dict) or "driftgate" not in tool:
            raise ConfigError(f"{path}: has no [tool.driftgate] table")
        return parse_config(tool["driftgate"], source=str(path), prefix=("tool", "driftgate"))
    return parse_config(data, source=str(path))


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid UTF-8 text: {exc}") from exc
