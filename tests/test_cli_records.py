"""`driftgate records` end to end: a 3-run experiment recorded into the real store over HTTP
(spans and evaluations as ddtrace sends them), listed through `driftgate.cli.main` with the
page's queries; a malformed query as a user's terminal shows it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from driftgate import cli
from driftgate.errors import EXIT_USAGE
from driftgate.store.app import create_app
from driftgate.store.db import Store
from driftgate.store.server import BackgroundServer
from tests.storeapi import Api, metric, post_metrics, post_spans, span

RECORDS = ["A", "B", "C", "D"]
N = None
# By record, one value per run (runs 1, 2, 3); the answers below are worked out by hand.
SCORE = {"A": [0.9, 0.8, 0.1], "B": [0.2, 0.3, 0.4], "C": [0.6, N, 0.5], "D": [1.0, 0.0, 0.6]}
SENTIMENT = {
    "A": ["positive", "negative", "positive"],
    "B": ["negative", "negative", "positive"],
    "C": ["negative", "positive", "negative"],
    "D": ["positive", "positive", "neutral"],
}
TOKENS = {
    "A": [1200, 900, 950],
    "B": [800, 800, 2000],
    "C": [1500, 300, 400],
    "D": [999, 1001, 1000],
}
COST = {"A": [0.02, 0.005, 0.005], "B": [0.001] * 3, "C": [0.03, 0.001, 0.001], "D": [0.011] * 3}
OUTPUT = {"A": ["Paris", "Paris", "Lyon"], "B": ["Rome"] * 3, "C": ["Bern", "Zurich", "Bern"]}
OUTPUT["D"] = ["Oslo", "Oslo", "Oslo"]
DIFFICULTY = {"A": "hard", "B": "hard", "C": "easy", "D": "easy"}


@dataclass
class Recorded:
    url: str
    db: Path
    experiment: str


def _record(api: Api) -> str:
    project = api.project("capitals")
    dataset = api.dataset(project)["id"]
    api.batch(
        project,
        dataset,
        insert_records=[
            {"id": r, "input": {"q": r}, "tags": [f"difficulty:{DIFFICULTY[r]}", "lang:en"]}
            for r in RECORDS
        ],
    )
    eid = str(api.experiment(project, dataset, "capitals-3-runs", run_count=3)["id"])
    for run in (1, 2, 3):
        spans, metrics = [], []
        for i, record in enumerate(RECORDS):
            sid = f"{run}{i:03d}"
            task = span(
                eid,
                sid,
                record,
                run=run,
                duration=int(1e9 * (i + run)),
                metrics={
                    "total_tokens": float(TOKENS[record][run - 1]),
                    "estimated_total_cost": COST[record][run - 1],
                },
            )
            task["meta"]["output"] = OUTPUT[record][run - 1]
            spans.append(task)
            score = SCORE[record][run - 1]
            if score is not None:
                metrics.append(metric(sid, "random_evaluator", "score", score))
            metrics.append(
                metric(sid, "sentient_evaluator", "categorical", SENTIMENT[record][run - 1])
            )
            metrics.append(metric(sid, "exact_match", "boolean", OUTPUT[record][run - 1] != "Lyon"))
        post_spans(api, spans)
        post_metrics(api, eid, metrics, run=run)
    api.patch(eid, status="completed")
    return eid


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Recorded]:
    db = tmp_path / "store.db"
    store = Store(str(db))
    with BackgroundServer(create_app(store)) as server:
        eid = _record(Api(server.url))
        for name in [n for n in os.environ if n.startswith(("DD_", "DRIFTGATE_"))]:
            monkeypatch.delenv(name)
        monkeypatch.setenv("DD_LLMOBS_OVERRIDE_ORIGIN", server.url)
        monkeypatch.chdir(tmp_path)
        yield Recorded(server.url, db, eid)
    store.close()


def records(
    capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, dict[str, Any] | None, str]:
    code = cli.main(["records", *args, "--format", "json"])
    out, err = capsys.readouterr()
    return code, json.loads(out) if out else None, err


def listed(capsys: pytest.CaptureFixture[str], ref: str, query: str) -> list[tuple[str, Any]]:
    code, shown, err = records(capsys, ref, "--query", query)
    assert code == 0, err
    assert shown is not None
    return sorted((r["record"], r["run"]) for r in shown["records"])


def test_the_pages_examples_on_a_three_run_experiment(
    recorded: Recorded, capsys: pytest.CaptureFixture[str]
) -> None:
    eid = recorded.experiment
    # Averages of random_evaluator: A 0.6, B 0.3, C 0.55, D 0.533; modes of
    # sentient_evaluator: A positive, B negative, C negative, D positive.
    first = (
        "@multi_run_avg.@evaluations.custom.random_evaluator:>0.5 "
        "@multi_run_mode.@evaluations.custom.sentient_evaluator:positive"
    )
    assert listed(capsys, eid, first) == [("A", None), ("D", None)]
    # Average tokens: A 1016.7, B 1200, C 733.3, D 1000.
    assert listed(capsys, eid, "@multi_run_avg.@trace.total_tokens:>1000") == [
        ("A", None),
        ("B", None),
    ]
    # Run 1's tokens: A 1200, B 800, C 1500, D 999.
    assert listed(capsys, eid, "run_iteration:1 @trace.total_tokens:>1000") == [("A", 1), ("C", 1)]


def test_a_multi_run_listing_aggregates_each_records_runs(
    recorded: Recorded, capsys: pytest.CaptureFixture[str]
) -> None:
    code, shown, _ = records(
        capsys,
        recorded.experiment,
        "-q",
        "dataset_record_id:A @multi_run_avg.@trace.total_tokens:>0",
    )
    assert code == 0
    assert shown is not None
    assert shown["multi_run"] is True
    assert shown["matched"] == shown["shown"] == 1
    [line] = shown["records"]
    assert line["runs"] == 3
    assert line["output"] == "Paris x2 · Lyon"
    assert line["evaluations"]["random_evaluator"] == pytest.approx(0.6)
    assert line["evaluations"]["sentient_evaluator"] == "positive"
    assert line["evaluations"]["exact_match"] == pytest.approx(2 / 3)
    assert line["total_tokens"] == pytest.approx(1016.6667, abs=1e-3)
    assert line["duration_ns"] == pytest.approx(2e9)  # runs of 1, 2 and 3 s


def test_one_run_and_a_row_listing(recorded: Recorded, capsys: pytest.CaptureFixture[str]) -> None:
    code, shown, _ = records(
        capsys, f"{recorded.experiment}@2", "-q", "@trace.estimated_total_cost:<0.01"
    )
    assert code == 0
    assert shown is not None
    assert shown["experiment"]["run"] == 2
    rows = {r["record"]: r for r in shown["records"]}
    assert sorted(rows) == ["A", "B", "C"]  # D costs 0.011
    assert rows["C"]["run"] == 2
    assert rows["C"]["output"] == "Zurich"
    assert rows["C"]["evaluations"] == {
        "random_evaluator": None,  # not evaluated in that run
        "sentient_evaluator": "positive",
        "exact_match": True,
    }
    assert rows["C"]["total_tokens"] == 300


def test_the_table_lists_every_row_without_a_query(
    recorded: Recorded, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["records", recorded.experiment, "--limit", "5"])
    out, _ = capsys.readouterr()
    assert code == 0
    head, blank, header, *lines = out.splitlines()
    assert head == "capitals-3-runs: 12 rows (record x run); the first 5 shown (--limit)"
    assert blank == ""
    assert header.split() == [
        "record", "run", "input", "output", "exact_match", "random_evaluator",
        "sentient_evaluator", "tokens", "duration", "error",
    ]  # fmt: skip
    assert len(lines) == 5
    assert lines[0].split() == [
        "A",
        "1",
        '{"q":"A"}',
        "Paris",
        "true",
        "0.9",
        "positive",
        "1,200",
        "1",
        "s",
    ]


def test_the_embedded_store_file(recorded: Recorded, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(
        [
            "records",
            recorded.experiment,
            "--db",
            str(recorded.db),
            "-q",
            "@status:ok run_iteration:3 @evaluations.custom.exact_match:false",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "the embedded store" in err
    assert out.splitlines()[0].startswith("capitals-3-runs: 1 row (record x run) matching ")
    assert out.splitlines()[-1].split()[:4] == ["A", "3", '{"q":"A"}', "Lyon"]


def test_what_the_experiment_lacks_is_a_usage_error_at_its_column(
    recorded: Recorded, capsys: pytest.CaptureFixture[str]
) -> None:
    code, shown, err = records(
        capsys, recorded.experiment, "-q", "run_iteration:1 @evaluations.custom.judge:ok"
    )
    assert code == EXIT_USAGE
    assert shown is None
    message, query, caret = err.splitlines()
    assert message.startswith("driftgate: error: --query: column 17: expected an evaluator")
    assert "exact_match, random_evaluator, sentient_evaluator" in message
    assert query[caret.index("^")] == "@"


def test_tag_terms_match_the_records_dataset_tags(
    recorded: Recorded, capsys: pytest.CaptureFixture[str]
) -> None:
    eid = recorded.experiment
    # The tags come from the dataset's records (the store's records list), by record id.
    assert listed(capsys, eid, "difficulty:hard") == [(r, run) for r in "AB" for run in (1, 2, 3)]
    assert listed(capsys, eid, "difficulty:hard run_iteration:2") == [("A", 2), ("B", 2)]
    # With multi-run terms: A's average score is 0.6, B's 0.3.
    query = "difficulty:hard @multi_run_avg.@evaluations.custom.random_evaluator:>0.5"
    assert listed(capsys, eid, query) == [("A", None)]
    assert listed(capsys, eid, "difficulty:medium") == []
    code, shown, err = records(capsys, eid, "-q", "lang:en difficulty:easy")
    assert code == 0, err
    assert shown is not None
    assert shown["matched"] == 6
    assert "match no record" not in err


def test_an_unknown_experiment_is_a_usage_error(
    recorded: Recorded, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = records(capsys, "no-such-experiment")
    assert code == EXIT_USAGE
    assert "no experiment 'no-such-experiment'" in err
    code, _, err = records(capsys, f"{recorded.experiment}@4")
    assert code == EXIT_USAGE
    assert "has no run 4" in err


def test_a_malformed_query_in_a_real_terminal(tmp_path: Path) -> None:
    """Read before any backend is opened: no keys, no store needed to be told."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DD_", "DRIFTGATE_"))}
    query = "@multi_run_avg.@trace.total_tokens:>1000 @trace.estimated_total_cost:>0.01"
    proc = subprocess.run(
        [sys.executable, "-m", "driftgate.cli", "records", "some-id", "--query", query],
        cwd=tmp_path,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == EXIT_USAGE
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    message, shown, caret = proc.stderr.splitlines()
    assert message.startswith("driftgate: error: --query: column 42: queries that mix ")
    assert "not supported" in message
    assert shown == f"  {query}"
    assert caret == "  " + " " * 41 + "^"
