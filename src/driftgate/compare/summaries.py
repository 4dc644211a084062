"""Summary evaluators: one value per run, so a handful of values per side.

With one to five values there is no sound test of a difference (the spread between runs is
barely estimated), so a numeric summary is descriptive: the mean of its run values on each
side, judged on the observed change against its minimum effect, and gated at `warn` by
default. Non-numeric summaries are listed, not compared.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from driftgate.compare.measure import Findings, Measurement
from driftgate.compare.schema import EvaluatorCoverage
from driftgate.compare.stats import no_test
from driftgate.config import GateConfig
from driftgate.experiments.models import SummaryEvaluation


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def _by_label(summaries: list[SummaryEvaluation]) -> dict[str, list[SummaryEvaluation]]:
    grouped: dict[str, list[SummaryEvaluation]] = defaultdict(list)
    for item in summaries:
        grouped[item.label].append(item)
    return grouped


def _values(items: list[SummaryEvaluation]) -> list[float]:
    found = (_number(i.value) for i in items if i.error is None)
    return [v for v in found if v is not None]


def _type(items: list[SummaryEvaluation] | None) -> str | None:
    return items[0].metric_type if items else None


def summary_metrics(
    baseline: list[SummaryEvaluation], candidate: list[SummaryEvaluation], config: GateConfig
) -> Findings:
    found = Findings()
    base_by, cand_by = _by_label(baseline), _by_label(candidate)
    for label in sorted(set(base_by) | set(cand_by)):
        base, cand = base_by.get(label), cand_by.get(label)
        base_values, cand_values = _values(base or []), _values(cand or [])
        numeric = {_type(base), _type(cand)} <= {"boolean", "score"}
        compared = bool(base_values and cand_values and numeric)
        policy = config.policy(label, "summary")
        reason = ""
        if base is None or cand is None:
            reason = f"{'baseline' if cand is None else 'candidate'} only"
        elif not numeric:
            reason = f"{_type(cand)} summary: listed, not compared"
        elif not compared:
            reason = "no value on one side"
        found.coverage.append(
            EvaluatorCoverage(
                label=label,
                source="summary",
                metric_type_baseline=_type(base),
                metric_type_candidate=_type(cand),
                compared=compared,
                gated=compared and policy.level != "off",
                values_baseline=len(base_values),
                values_candidate=len(cand_values),
                errors_baseline=sum(1 for i in base or [] if i.error is not None),
                errors_candidate=sum(1 for i in cand or [] if i.error is not None),
                reason=reason,
            )
        )
        if not compared:
            found.warnings.append(f"summary evaluator {label!r}: {reason}")
            continue
        base_mean = sum(base_values) / len(base_values)
        cand_mean = sum(cand_values) / len(cand_values)
        found.measurements.append(
            Measurement(
                name=label,
                kind="summary",
                direction=policy.direction,
                level=policy.level,
                tolerance=policy.min_effect,
                inference=no_test("descriptive", len(base_values) + len(cand_values)),
                baseline=base_mean,
                candidate=cand_mean,
                n_baseline=len(base_values),
                n_candidate=len(cand_values),
                descriptive=True,
                notes=(
                    f"one value per run ({len(base_values)} baseline, {len(cand_values)} "
                    "candidate): no test; judged on the observed change against min_effect",
                ),
            )
        )
    return found
