"""Statistics and the gate rules: pure functions from two experiments to a `Report`.

No I/O here: the caller fetches the experiments and the configuration, and writes the report.

The engine (numpy and the statistics) is imported when one of its functions is first asked
for, not with the package: `schema` (the report's models) is needed before a gate compares
anything, e.g. to describe the command it ran.
"""

from typing import TYPE_CHECKING, Any

from driftgate.compare.schema import Metric, Records, Report

if TYPE_CHECKING:
    from driftgate.compare.engine import compare, error_report, experiment_ref, no_baseline_report
    from driftgate.compare.pooled import compare_pooled

__all__ = [
    "Metric",
    "Records",
    "Report",
    "compare",
    "compare_pooled",
    "error_report",
    "experiment_ref",
    "no_baseline_report",
]

_ENGINE = frozenset({"compare", "error_report", "experiment_ref", "no_baseline_report"})


def __getattr__(name: str) -> Any:
    if name in _ENGINE:
        from driftgate.compare import engine

        return getattr(engine, name)
    if name == "compare_pooled":
        from driftgate.compare import pooled

        return pooled.compare_pooled
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
