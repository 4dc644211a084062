"""Synthetic baseline/candidate experiment pairs with a known truth, in memory.

`make_pair(Scenario(...))` returns two `ExperimentData` over the same dataset. It is meant
to be reused: the simulation and the speed benchmark call it directly, and the same pairs
can be written into the embedded store row by row (every field a store row needs is here:
record key, run, task error, duration, tokens, cost, texts, evaluator values).

How the data behave, and why:
- Records differ in difficulty. Each record has a latent pass probability drawn from a
  U-shaped Beta: most records (almost) always pass or (almost) always fail, and some flip at
  random between runs. `flip_rate` is the share of records whose outcome differs between
  two runs of the *same* system; the Beta's concentration is solved from it.
- Scores ("quality", 0..1): each record has a latent mean quality; each run observes it with
  noise (a Beta around the mean, standard deviation about 0.1).
- A true drop lowers every record's latent value proportionally, so that the dataset's
  expected pass rate (or mean score) falls by exactly `pass_drop` (`score_drop`) and every
  value stays in 0..1.
- Task errors are rare, independent, and make that row's evaluations fail (as an evaluator
  does when the task returned nothing). Tokens, cost and latency vary per record and per run.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from driftgate.experiments.models import EvaluatorColumn, ExperimentData, ExperimentInfo, FloatArray

SCORE_NOISE_CONCENTRATION = 20.0  # per-run Beta around the record's mean: sd ~ 0.1
PRICE_PER_TOKEN = 2e-6


@dataclass(frozen=True, slots=True)
class Scenario:
    records: int = 400
    runs: int = 1
    pass_rate: float = 0.7
    flip_rate: float = 0.10
    mean_score: float = 0.7
    pass_drop: float = 0.0
    score_drop: float = 0.0
    error_rate: float = 0.01
    full: bool = False  # five evaluators instead of two (the speed benchmark's shape)
    seed: int = 0


def beta_for_flip_rate(mean: float, flip_rate: float) -> tuple[float, float]:
    """Beta(a, b) with this mean whose records disagree between two runs `flip_rate` of the time.

    For p ~ Beta(a, b) with mean m, two independent runs disagree with probability
    2 E[p(1-p)] = 2 m (1-m) c / (c+1), with c = a + b.
    """
    share = flip_rate / (2 * mean * (1 - mean))
    if not 0 < share < 1:
        raise ValueError(f"a flip rate of {flip_rate} is impossible at a mean of {mean}")
    concentration = share / (1 - share)
    return mean * concentration, (1 - mean) * concentration


@dataclass(frozen=True, slots=True)
class _Latent:
    """What the records are, shared by both sides of a pair."""

    pass_p: FloatArray
    quality: FloatArray
    faithfulness: FloatArray
    grade_p: FloatArray
    topic: np.ndarray
    prompt_tokens: FloatArray
    answer_tokens: FloatArray
    seconds: FloatArray


def _latent(s: Scenario, rng: np.random.Generator) -> _Latent:
    a, b = beta_for_flip_rate(s.pass_rate, s.flip_rate)
    n = s.records
    return _Latent(
        pass_p=rng.beta(a, b, n),
        quality=np.clip(rng.beta(2.1 * s.mean_score / 0.7, 0.9, n), 1e-3, 1 - 1e-3),
        faithfulness=np.clip(rng.beta(3.0, 1.0, n), 1e-3, 1 - 1e-3),
        grade_p=rng.beta(*beta_for_flip_rate(0.8, 0.08), n),
        topic=rng.integers(0, 4, n),
        prompt_tokens=np.round(rng.lognormal(np.log(400), 0.5, n)),
        answer_tokens=rng.lognormal(np.log(120), 0.4, n),
        seconds=rng.lognormal(np.log(1.2), 0.4, n),
    )


def _worse(values: FloatArray, drop: float) -> FloatArray:
    if drop == 0:
        return values
    factor = 1 - drop / float(values.mean())
    if factor <= 0:
        raise ValueError(f"a drop of {drop} is larger than the mean {values.mean():.3f}")
    return values * factor


TOPICS = ("billing", "shipping", "returns", "other")


def _side(
    s: Scenario, latent: _Latent, rng: np.random.Generator, label: str, *, candidate: bool
) -> ExperimentData:
    n, runs = s.records, s.runs
    rows = n * runs
    record = np.tile(np.arange(n), runs)  # run by run, as ddtrace sends them
    run = np.repeat(np.arange(1, runs + 1), n).astype(np.int32)
    pass_p = _worse(latent.pass_p, s.pass_drop) if candidate else latent.pass_p
    quality = _worse(latent.quality, s.score_drop) if candidate else latent.quality
    error = rng.random(rows) < s.error_rate
    correct = (rng.random(rows) < pass_p[record]).astype(np.float64)
    q = quality[record] * SCORE_NOISE_CONCENTRATION
    observed_quality = rng.beta(q, SCORE_NOISE_CONCENTRATION - q)
    correct[error] = 0.0
    observed_quality[error] = 0.0
    nan = np.full(rows, np.nan)
    no_error = np.zeros(rows, dtype=bool)
    evaluators = {
        "correct": EvaluatorColumn("correct", "boolean", correct, nan, no_error),
        "quality": EvaluatorColumn("quality", "score", observed_quality, nan, no_error),
    }
    if s.full:
        f = latent.faithfulness[record] * SCORE_NOISE_CONCENTRATION
        grade_pass = (rng.random(rows) < latent.grade_p[record]).astype(np.float64)
        evaluators["faithfulness"] = EvaluatorColumn(
            "faithfulness", "score", rng.beta(f, SCORE_NOISE_CONCENTRATION - f), nan, no_error
        )
        evaluators["grade"] = EvaluatorColumn(
            "grade",
            "categorical",
            nan,
            grade_pass,
            no_error,
            category=["good" if g else "poor" for g in grade_pass],
        )
        evaluators["topic"] = EvaluatorColumn(
            "topic",
            "categorical",
            nan,
            nan,
            no_error,
            category=[TOPICS[t] for t in latent.topic[record]],
        )
    answer = np.round(latent.answer_tokens[record] * rng.lognormal(0, 0.1, rows))
    total = latent.prompt_tokens[record] + answer
    keys = [f"rec-{i:06d}" for i in range(n)]
    return ExperimentData(
        info=ExperimentInfo(
            id=f"{label}-{s.seed}",
            name=f"sim-{label}-{s.seed}",
            experiment="sim",
            dataset_id="sim-dataset",
            dataset_version=1,
            run_count=runs,
            status="completed",
        ),
        run=None,
        record_key=[keys[i] for i in record],
        run_iteration=run,
        task_error=error,
        error_message=["timeout" if e else None for e in error],
        duration_ns=latent.seconds[record] * rng.lognormal(0, 0.25, rows) * 1e9,
        input_tokens=latent.prompt_tokens[record],
        output_tokens=answer,
        total_tokens=total,
        cost=total * PRICE_PER_TOKEN,
        input_text=[f"question {i}" for i in record],
        expected_text=[f"answer {i}" for i in record],
        output_text=["" if e else f"reply {i}" for i, e in zip(record, error, strict=True)],
        evaluators=evaluators,
        summaries=[],
    )


def make_pair(s: Scenario) -> tuple[ExperimentData, ExperimentData]:
    """A baseline and a candidate over the same records; the candidate carries the drops."""
    rng = np.random.default_rng(s.seed)
    latent = _latent(s, rng)
    baseline = _side(s, latent, rng, "baseline", candidate=False)
    candidate = _side(s, latent, rng, "candidate", candidate=True)
    return baseline, candidate


def make_history(
    s: Scenario,
    base_runs: int,
    *,
    drift: float = 0.0,
    score_drift: float = 0.0,
    drift_at: int = 0,
) -> tuple[list[ExperimentData], ExperimentData]:
    """`base_runs` base-branch runs of one system (newest first) and a candidate over the
    same records; the candidate carries the drops.

    With `drift`, the base branch changed `drift_at` runs ago: the newest `drift_at` base
    runs and the candidate run a system whose pass rate is `drift` lower than the older
    runs' (a negative `drift`: higher) and whose mean score is `score_drift` lower, as when
    a change merged on the base branch swapped the model. `drift_at = 1` is the hardest
    case: only the newest run shows it; a drift of the pass rate alone is harder to see than
    one that moves the score too (scores are less noisy).
    """
    rng = np.random.default_rng(s.seed)
    older = _latent(s, rng)
    # A negative drift can push a record's latent value past 1: clipped (the score's Beta
    # needs it inside 0..1), so its mean moves a little less than asked.
    newer = replace(
        older,
        pass_p=np.clip(_worse(older.pass_p, drift), 0.0, 1.0),
        quality=np.clip(_worse(older.quality, score_drift), 1e-3, 1 - 1e-3),
    )
    history = []
    for j in range(base_runs):
        latent = newer if j < drift_at else older
        history.append(_side(s, latent, rng, f"base{j}", candidate=False))
    return history, _side(s, newer, rng, "candidate", candidate=True)
