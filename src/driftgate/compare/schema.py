"""The comparison report: the JSON contract (the README's "Exit codes and the JSON report") as
pydantic models.

Contract fields keep their names and meanings; the others are additions a consumer may
ignore. Numbers are in the metric's own unit: pass rates as fractions 0..1, scores on their
own scale, tokens per record, cost per record, latency in seconds.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from driftgate.config import Level
from driftgate.experiments.models import ConsideredRun
from driftgate.verdict import Verdict

MetricKind = Literal[
    "boolean", "score", "categorical", "summary", "errors", "tokens", "cost", "latency"
]
MetricVerdict = Literal["regressed", "improved", "unchanged", "inconclusive"]
Gate = Literal["fail", "warn", "pass"]
# "none": categories without an assessment have no better or worse.
MetricDirection = Literal["higher", "lower", "none"]

SCHEMA_VERSION = 1


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class RunRecords(_Model):
    """How many task spans (records) one run of an experiment has."""

    run: int
    records: int


class ExperimentRef(_Model):
    """Which experiment run a side of the comparison is."""

    id: str
    name: str
    experiment: str
    commit: str | None
    url: str | None
    created_at: str | None
    # additions
    run: int | None = None  # the one run selected (ID@N), None for all runs
    runs: int = 0
    records: int = 0
    dataset_id: str = ""
    dataset_version: int | None = None
    dirty: bool = False  # recorded from uncommitted changes (tag git.dirty): never a baseline
    # The dataset version's record count (None: not known) and each run's task spans: a run
    # with fewer is incomplete (see compare/completeness.py).
    dataset_records: int | None = None
    records_per_run: list[RunRecords] = Field(default_factory=list)


class Metric(_Model):
    """One compared quantity: an evaluator, a summary evaluator or a budget."""

    name: str
    kind: MetricKind
    direction: MetricDirection
    baseline: float | None
    candidate: float | None
    delta: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    n: int
    verdict: MetricVerdict
    gate: Gate
    # additions
    level: Level = "off"
    unit: str = ""
    method: str = ""
    paired: bool = False
    # `p_value` is one-sided in the direction of the observed change and adjusted (Holm)
    # over the metric's family; this is the same test before the adjustment.
    p_value_unadjusted: float | None = None
    confidence: float | None = None  # of [ci_low, ci_high]
    # The interval at the level the adjusted test was held to: one-sided alpha shrunk by the
    # factor that the adjustment applied to `p_value` (adjusted / unadjusted), so that it
    # excludes 0 when `p_value` is below alpha (docs/statistics.md, "Intervals beside
    # adjusted p-values"). Equal to [ci_low, ci_high] where nothing was adjusted; None
    # without a test or an interval.
    ci_low_adjusted: float | None = None
    ci_high_adjusted: float | None = None
    confidence_adjusted: float | None = None
    min_effect: float | None = None  # the tolerance in the metric's unit
    min_effect_rule: str = ""  # as configured: "0.02" or "5%"
    mde: float | None = None  # smallest change this sample could detect (80% power)
    relative_delta: float | None = None
    n_baseline: int = 0
    n_candidate: int = 0
    family: str | None = None  # the set of tests it was adjusted with ("quality", "budgets")
    # categories without an assessment: category -> (baseline share, candidate share)
    distribution: dict[str, tuple[float | None, float | None]] | None = None
    notes: list[str] = Field(default_factory=list)


class EvaluatorCoverage(_Model):
    """Every evaluator label seen on either side, including the ones not compared."""

    label: str
    source: Literal["record", "summary"]
    metric_type_baseline: str | None
    metric_type_candidate: str | None
    compared: bool
    gated: bool
    values_baseline: int = 0
    values_candidate: int = 0
    errors_baseline: int = 0
    errors_candidate: int = 0
    error_rate_baseline: float | None = None
    error_rate_candidate: float | None = None
    reason: str = ""


class MetricChange(_Model):
    name: str
    baseline: float | None
    candidate: float | None


class RunOutputs(_Model):
    """What some of a record's runs on one side gave: one output (or one error), and how
    many of its runs gave it."""

    output: str
    runs: int
    error: str | None = None
    """The task's error message when these runs raised (their output is then whatever the
    task left, usually nothing)."""


class FlippedRecord(_Model):
    id: str
    direction: Literal["regressed", "improved"]
    changes: list[MetricChange]
    input: str
    expected: str
    baseline_output: str  # the earliest run's
    candidate_output: str
    # additions
    tags: list[str] = Field(default_factory=list)
    """The dataset record's tags (`key:value`), when the experiment's data carries them."""
    baseline_runs: int = 0
    candidate_runs: int = 0
    baseline_outputs: list[RunOutputs] = Field(default_factory=list)
    """Every run's output on that side, each distinct output (or error) once with how many
    runs gave it, the most frequent first (at most `MAX_OUTPUTS` of them)."""
    candidate_outputs: list[RunOutputs] = Field(default_factory=list)


class Records(_Model):
    compared: int = 0
    regressed: list[str] = Field(default_factory=list)
    improved: list[str] = Field(default_factory=list)
    flipped: list[FlippedRecord] = Field(default_factory=list)
    # additions
    regressed_count: int = 0
    improved_count: int = 0
    baseline_only: int = 0
    candidate_only: int = 0
    baseline_only_ids: list[str] = Field(default_factory=list)
    candidate_only_ids: list[str] = Field(default_factory=list)
    truncated: bool = False  # whether an id list or `flipped` was cut to its limit


class PooledRun(_Model):
    """One base-branch run of the history a pooled baseline was drawn from."""

    id: str
    commit: str | None = None
    created_at: str | None = None
    runs: int = 0  # its iterations (ddtrace's `runs`)
    pooled: bool = False
    why: str = ""  # why it was left out ("" when pooled)


class History(_Model):
    """A baseline pooled from several base-branch runs (see docs/statistics.md)."""

    considered: int
    pooled: int  # base runs pooled (each with all its iterations)
    observations: int = 0  # base iterations pooled, summed over the pooled runs
    runs: list[PooledRun] = Field(default_factory=list)  # newest first
    change_point: str = ""  # why the older runs were left out; "" when none was
    flaky: list[str] = Field(default_factory=list)  # known-flaky record keys (first MAX_IDS)
    flaky_count: int = 0
    regressed_flaky: int = 0  # of `records.regressed_count`, how many are known-flaky
    # Metrics that regressed although every record that moved the worse way is known-flaky.
    flaky_only: list[str] = Field(default_factory=list)
    # Metrics the pooled test alone would have judged regressed (or improved), held back
    # because the newest base run alone does not confirm the change at alpha.
    unconfirmed: list[str] = Field(default_factory=list)


TrendKind = Literal["rate", "mean"]


class TrendPoint(_Model):
    """One run's value of a gated metric, that run measured on its own (every record it has a
    value for, its iterations averaged per record, then the records averaged): the figure
    the report would show for it as a side."""

    run_id: str
    commit: str | None = None
    created_at: str | None = None
    value: float  # a rate as a fraction 0..1, a mean on its own scale
    records: int = 0  # records with a value
    pooled: bool = False  # in the pooled baseline (`compare_pooled` only)


class Trend(_Model):
    """A gated metric over the base branch's recent runs and the candidate (see
    docs/statistics.md, "Trend"). `kind`: "rate" for pass and error rates, "mean" for
    scores. Only runs that have the metric are points; a trend has two base points or more.
    """

    metric: str
    kind: TrendKind
    direction: MetricDirection
    unit: str  # as the metric's: "pass rate", "error rate", "score"
    points: list[TrendPoint]  # base-branch runs, oldest first
    candidate: TrendPoint


class Slice(_Model):
    """One metric within a slice of the records: those whose dataset record carries `tag`
    (`key:value`) on both sides, compared by the same paired path as the whole experiment.

    Exploratory (`gated` false): `metric.p_value` is adjusted (Holm) over all `tests`
    exploratory slice tests of the experiment, its interval is at the matching level, and
    it never moves the gate (`metric.level` is "off"). Gated (`[slices]` in the config):
    tested at the slice's own `alpha` (Holm over the slice's metrics only), and a
    regression sets `metric.gate` to the slice's level, which counts in the report's verdict.
    """

    tag: str
    key: str
    value: str
    metric: Metric
    gated: bool = False
    # adjusted significant, or a change beyond the metric's minimum effect: in the table
    changed: bool = False
    alpha: float | None = None  # the level it was tested at
    tests: int = 0  # the tests its p-value was adjusted over


class Report(_Model):
    verdict: Verdict
    candidate: ExperimentRef | None
    baseline: ExperimentRef | None
    baseline_reason: str
    metrics: list[Metric]
    records: Records
    # additions
    schema_version: int = SCHEMA_VERSION
    alpha: float | None = None
    config_source: str = ""
    evaluators: list[EvaluatorCoverage] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    incomplete: Level = "warn"
    """What an incomplete run does to the verdict, as configured (`incomplete`)."""
    baseline_considered: list[ConsideredRun] = Field(default_factory=list)
    """Without a baseline: the runs the search looked at and why none qualified (newest
    first, at most a few; `baseline_reason` counts them all)."""
    history: History | None = None
    """With a pooled baseline of several base-branch runs: which were pooled, the change
    point, the known-flaky records. None for a baseline of one run."""
    slices: list[Slice] = Field(default_factory=list)
    """Per record tag and gated metric, the comparison within the records carrying the tag
    (docs/statistics.md, "Slices by tag"); empty when the records carry no tags, and
    without a baseline (nothing to compare a slice with)."""
    slices_skipped: list[str] = Field(default_factory=list)
    """Tag keys not sliced, each with why (one value only, too many values)."""
    where: str | None = None
    """The query the comparison was restricted to (`--where`, or the configuration's
    `where`; docs/query.md), in its canonical form; None when every record was compared.
    The warnings say where it came from and how many records each side kept."""
    trend: list[Trend] = Field(default_factory=list)
    """Per gated metric, its value over the base branch's recent runs and the candidate's;
    empty with fewer than two base runs to show."""
