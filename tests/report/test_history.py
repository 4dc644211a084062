"""`driftgate history list`'s lines and table (report/history.py): the figures each kind of
evaluator heads with, each record counted once, and text from scripts kept off the
terminal's controls."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from driftgate.experiments.models import EvaluatorColumn
from driftgate.report.history import render_table, run_line
from tests.experiments.runs import realistic

NAN = np.nan


def test_figures_count_each_record_once() -> None:
    data = realistic(2, runs=2)
    # Record 0 passes twice, record 1 once in two: 75%, not the rows' 3 in 4 by chance.
    data = dataclasses.replace(
        data,
        record_key=["a", "b", "a", "a"],
        task_error=np.array([False, False, False, True]),
        evaluators={
            "ok": EvaluatorColumn(
                "ok", "boolean", np.array([1.0, 0.0, 1.0, NAN]), np.full(4, NAN), np.zeros(4, bool)
            ),
            "topic": EvaluatorColumn(
                "topic",
                "categorical",
                np.full(4, NAN),
                np.full(4, NAN),
                np.zeros(4, bool),
                category=["geo", "math", "math", None],
            ),
            "shape": EvaluatorColumn(
                "shape", "json", np.full(4, NAN), np.full(4, NAN), np.zeros(4, bool)
            ),
            "judge": EvaluatorColumn(
                "judge",
                "json",
                np.full(4, NAN),
                np.array([1.0, 0.0, 0.0, 1.0]),
                np.array([False, False, False, True]),
            ),
        },
    )
    line = run_line(data.info, data)
    assert (line.records, line.rows, line.runs) == (2, 4, 2)
    assert line.error_rate == pytest.approx(0.25)
    figures = {label: (f.measure, f.value) for label, f in line.metrics.items()}
    assert figures["ok"] == ("pass_rate", pytest.approx(0.5))  # a: 1, b: 0
    assert figures["topic"] == ("mode", "math")
    assert figures["shape"] == ("none", None)
    # An errored evaluation's assessment does not count: a (1 + 0)/2, b 0.
    assert figures["judge"] == ("pass_rate", pytest.approx(0.25))


def test_a_run_not_read_has_no_figures() -> None:
    data = realistic(1)
    line = run_line(data.info.model_copy(update={"status": "running"}), None)
    assert line.metrics == {} and line.error_rate is None and line.runs == 3
    table = render_table([line], pipeline="capitals", branch="main", backend="the store")
    assert table.splitlines()[-1].split()[2:4] == ["4b76c16a7539", "(running)"]


def test_text_from_scripts_cannot_drive_the_terminal() -> None:
    data = realistic(1)
    hostile = "\x1b]0;pwned\x07label"
    column = dataclasses.replace(data.evaluators["judge"], label=hostile)
    info = data.info.model_copy(update={"metadata": {"tags": ["ci.pipeline:\x1b[31mred"]}})
    data = dataclasses.replace(data, info=info, evaluators={hostile: column})
    table = render_table([run_line(info, data)], pipeline=None, branch="ma\x1bin", backend="b")
    assert "\x1b" not in table and "\x07" not in table
    assert "every pipeline on ma in: 1 run" in table
