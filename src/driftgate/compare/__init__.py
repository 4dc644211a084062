"""Statistics and the gate rules: pure functions from two experiments to a `Report`.

No I/O here: the caller fetches the experiments and the configuration, and writes the report.
"""

from driftgate.compare.engine import compare, error_report, experiment_ref, no_baseline_report
from driftgate.compare.schema import Metric, Records, Report

__all__ = [
    "Metric",
    "Records",
    "Report",
    "compare",
    "error_report",
    "experiment_ref",
    "no_baseline_report",
]
