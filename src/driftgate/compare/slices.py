"""Slices by tag: each gated pass-rate or score metric compared again within the records
whose dataset record carries one tag (`difficulty:hard`), so that a drop confined to a part
of the dataset is seen where it is.

A slice is measured by the path of the whole experiment (`compare_column` over the same
alignment, with the rows outside the slice blanked), so it pairs, averages runs and picks
its test exactly as the metric does. Exploratory slices (every tag value the candidate's
records use) are many looks at the same data: their p-values are adjusted with Holm over
all of them, and they never move the gate. Slices named in `[slices]` are gated: tested at
their own alpha, adjusted over their own metrics only, as the experiment's metrics are.
See docs/statistics.md, "Slices by tag".
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace

import numpy as np

from driftgate.compare.measure import Measurement, compare_column
from driftgate.compare.pairing import Alignment
from driftgate.compare.rules import adjusted_p_values, judge
from driftgate.compare.schema import Metric, Slice
from driftgate.config import GateConfig, SliceGate
from driftgate.experiments.models import BoolArray, ExperimentData

# A tag key with more values than this is an id or free text, not a grouping: a table of
# its slices would be noise and each would hold a handful of records.
MAX_VALUES = 20
# An exploratory slice needs this many records on both sides: below it, no change survives
# the adjustment, and a single record's flip reads as a large change.
MIN_RECORDS = 10
_EPS = 1e-12


@dataclass(slots=True)
class SliceFindings:
    slices: list[Slice] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def split_tag(tag: str) -> tuple[str, str] | None:
    """`key:value` as (key, value); None for a tag without both."""
    key, sep, value = tag.partition(":")
    return (key, value) if sep and key and value else None


def _record_tags(
    alignment: Alignment, baseline: ExperimentData, candidate: ExperimentData
) -> list[tuple[str, ...]]:
    """Each record's tags: the candidate's where it has the record, else the baseline's."""
    tags: list[tuple[str, ...]] = [()] * alignment.size
    for data, codes in (
        (baseline, alignment.baseline_codes),
        (candidate, alignment.candidate_codes),
    ):
        if data.record_tags is None:
            continue
        for row, code in enumerate(codes.tolist()):
            tags[code] = data.record_tags[row]
    return tags


def _gated(measurements: list[Measurement]) -> list[Measurement]:
    """The metrics a slice compares: the tested, gated pass rates and scores."""
    return [
        m
        for m in measurements
        if m.family == "quality" and m.level != "off" and m.rows is not None and m.shift is None
    ]


def _measure(m: Measurement, alignment: Alignment, members: BoolArray, alpha: float) -> Measurement:
    assert m.rows is not None
    base_in = members[alignment.baseline_codes]
    cand_in = members[alignment.candidate_codes]
    return compare_column(
        name=m.name,
        kind=m.kind,
        baseline=np.where(base_in, m.rows[0], np.nan),
        candidate=np.where(cand_in, m.rows[1], np.nan),
        alignment=alignment,
        confidence=1 - 2 * alpha,
        direction=m.direction,
        level=m.level,
        tolerance=m.tolerance,
        rate=m.rate,
        family="quality",
        unit=m.unit,
    )


def _changed(metric: Metric) -> bool:
    if metric.verdict in ("regressed", "improved"):
        return True
    delta, tolerance = metric.delta, metric.min_effect
    return delta is not None and tolerance is not None and abs(delta) > tolerance + _EPS


def _slice(tag: str, metric: Metric, *, gated: bool, alpha: float, tests: int) -> Slice:
    key, value = split_tag(tag) or (tag, "")
    return Slice(
        tag=tag,
        key=key,
        value=value,
        metric=metric,
        gated=gated,
        changed=_changed(metric),
        alpha=alpha,
        tests=tests,
    )


def _members(tags: list[tuple[str, ...]]) -> dict[str, dict[str, list[int]]]:
    found: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for record, record_tags in enumerate(tags):
        for tag in set(record_tags):
            if (parts := split_tag(tag)) is not None:
                found[parts[0]][parts[1]].append(record)
    return found


def slice_metrics(
    baseline: ExperimentData,
    candidate: ExperimentData,
    alignment: Alignment,
    measurements: list[Measurement],
    config: GateConfig,
) -> SliceFindings:
    """Every slice of the candidate's tag keys, and the gated slices of `config.slices`."""
    found = SliceFindings()
    if candidate.record_tags is None:
        return found
    metrics = _gated(measurements)
    tags = _record_tags(alignment, baseline, candidate)
    members = _members(tags)
    in_candidate = alignment.in_candidate
    gates = {gate.tag: gate for gate in config.slices}
    explore: list[tuple[str, np.ndarray]] = []
    small: dict[str, int] = defaultdict(int)
    for key in sorted(members):
        values = {
            v: records
            for v, records in members[key].items()
            if any(in_candidate[r] for r in records)
        }
        if not values:
            continue
        if len(values) == 1:
            found.skipped.append(f"{key}: one value only ({next(iter(values))})")
            continue
        if len(values) > MAX_VALUES:
            found.skipped.append(f"{key}: {len(values)} values (more than {MAX_VALUES})")
            continue
        for value in sorted(values):
            tag = f"{key}:{value}"
            if tag in gates:
                continue
            mask = np.zeros(alignment.size, dtype=bool)
            mask[values[value]] = True
            if int((mask & alignment.in_both).sum()) < MIN_RECORDS:
                small[key] += 1
                continue
            explore.append((tag, mask))
    for key, count in small.items():
        found.skipped.append(
            f"{key}: {count} value(s) with fewer than {MIN_RECORDS} records on both sides"
        )
    if metrics and explore:
        found.slices += _exploratory(explore, metrics, alignment, config.alpha)
    for gate in config.slices:
        parts = split_tag(gate.tag)
        records = members.get(parts[0], {}).get(parts[1], []) if parts else []
        if not records:
            found.warnings.append(
                f"{config.source}: the gated slice [slices.{gate.tag!r}] matches no record "
                "tag of the compared experiments: it is not tested; name a tag the dataset's "
                "records carry (key:value)"
            )
            continue
        mask = np.zeros(alignment.size, dtype=bool)
        mask[records] = True
        found.slices += _gate_slice(gate, mask, metrics, alignment, config.alpha)
    return found


def _exploratory(
    explore: list[tuple[str, np.ndarray]],
    metrics: list[Measurement],
    alignment: Alignment,
    alpha: float,
) -> list[Slice]:
    looked: list[tuple[str, Measurement]] = [
        (tag, _measure(m, alignment, mask, alpha)) for tag, mask in explore for m in metrics
    ]
    # One family of every slice x metric test: Holm keeps the chance of any false
    # `regressed` or `improved` among them at alpha, whatever their dependence.
    adjusted = adjusted_p_values([sub for _, sub in looked])
    tests = len(looked)
    return [
        _slice(
            tag,
            judge(replace(sub, level="off"), alpha, adjusted.get(i)),
            gated=False,
            alpha=alpha,
            tests=tests,
        )
        for i, (tag, sub) in enumerate(looked)
    ]


def _gate_slice(
    gate: SliceGate,
    mask: BoolArray,
    metrics: list[Measurement],
    alignment: Alignment,
    default_alpha: float,
) -> list[Slice]:
    alpha = gate.alpha if gate.alpha is not None else default_alpha
    subs = [
        replace(
            _measure(m, alignment, mask, alpha),
            level=gate.level,
            tolerance=gate.min_effect or m.tolerance,
        )
        for m in metrics
    ]
    adjusted = adjusted_p_values(subs)
    return [
        _slice(
            gate.tag,
            judge(sub, alpha, adjusted.get(i)),
            gated=gate.level != "off",
            alpha=alpha,
            tests=len(subs),
        )
        for i, sub in enumerate(subs)
    ]
