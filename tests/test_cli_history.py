"""`driftgate history` end to end: runs recorded into the real store over HTTP as ddtrace
sends them (task spans, LLM child spans with tokens, evaluations, summaries), listed with
their figures; exported, imported into a second, fresh embedded store (served by the
command), exported again: the same rows and figures; and the errors a user meets, each one
line with its exit code."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from driftgate import cli
from driftgate.errors import EXIT_BACKEND, EXIT_USAGE
from driftgate.experiments.compact import decode_run
from driftgate.store.app import create_app
from driftgate.store.db import Store
from driftgate.store.server import BackgroundServer
from tests.fakes.flaky import Fault, Flaky
from tests.storeapi import Api, metric, post_metrics, post_spans, span

RECORDS = {"A": "easy", "B": "easy", "C": "hard", "D": "hard"}


def _record(
    api: Api,
    commit: str,
    branch: str,
    *,
    right: dict[str, list[bool]],
    status: str = "completed",
) -> str:
    """A 2-run experiment of `capitals` at `commit` on `branch`; `right[record]` says, per
    run, whether its answer was right. Record D's task raises in run 2; the judge fails on
    record C in run 1."""
    project = api.project("capitals")
    dataset = api.dataset(project, "capitals-of-the-world")["id"]
    api.batch(
        project,
        dataset,
        insert_records=[
            {"id": r, "input": {"country": r}, "expected_output": "x", "tags": [f"difficulty:{d}"]}
            for r, d in RECORDS.items()
        ],
    )
    tags = [
        f"git.commit.sha:{commit}",
        f"git.branch:{branch}",
        "ci.pipeline:capitals",
        "project_name:capitals",
        "dataset_name:capitals-of-the-world",
    ]
    eid = str(
        api.experiment(
            project,
            dataset,
            "capitals",
            run_count=2,
            ensure_unique=True,
            config={"model": "atlas"},
            metadata={"tags": tags},
        )["id"]
    )
    for run in (1, 2):
        spans, children, metrics = [], [], []
        for i, record in enumerate(RECORDS):
            sid = f"{commit[:4]}{run}{i}"
            failed = run == 2 and record == "D"
            answer = "" if failed else ("right " if right[record][run - 1] else "wrong ") * 60
            task = span(eid, sid, record, run=run, duration=1_000_000 * (i + 1))
            task["meta"]["output"] = answer
            if failed:
                task["status"] = "error"
                task["meta"]["error"] = {"message": "boom", "type": "ValueError"}
            spans.append(task)
            # The LLM call under the task: its tokens are the task's.
            children.append(
                {
                    **span(eid, f"{sid}9", record, run=run),
                    "parent_id": sid,
                    "trace_id": task["trace_id"],
                    "meta": {"span": {"kind": "llm"}},
                    "metrics": {"input_tokens": 10, "output_tokens": 2 + i},
                }
            )
            if failed:
                continue
            ok = right[record][run - 1]
            metrics.append(metric(sid, "exact_match", "boolean", ok))
            metrics.append(metric(sid, "similarity", "score", 0.9 if ok else 0.2 + i / 10))
            if run == 1 and record == "C":
                metrics.append(
                    {**metric(sid, "judge", "categorical", None), "error": {"message": "down"}}
                )
            else:
                metrics.append(
                    metric(
                        sid,
                        "judge",
                        "categorical",
                        "correct" if ok else "wrong",
                        assessment="pass" if ok else "fail",
                    )
                )
        post_spans(api, spans + children)
        post_metrics(api, eid, metrics, run=run)
        post_metrics(
            api,
            eid,
            [
                {
                    "metric_source": "summary",
                    "span_id": "",
                    "metric_type": "score",
                    "label": "accuracy",
                    "score_value": run / 4,
                }
            ],
            run=run,
        )
    api.patch(eid, status=status)
    return eid


ALL_RIGHT = {r: [True, True] for r in RECORDS}
WORSE = {"A": [True, False], "B": [True, True], "C": [False, False], "D": [True, True]}


@dataclass
class Recorded:
    url: str
    older: str
    newer: str
    feature: str
    running: str


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Recorded]:
    store = Store(str(tmp_path / "a.db"))
    with BackgroundServer(create_app(store)) as server:
        api = Api(server.url)
        found = Recorded(
            server.url,
            older=_record(api, "a" * 40, "main", right=ALL_RIGHT),
            feature=_record(api, "c" * 40, "feature", right=WORSE),
            newer=_record(api, "b" * 40, "main", right=WORSE),
            running=_record(api, "d" * 40, "main", right=ALL_RIGHT, status="running"),
        )
        for name in [n for n in os.environ if n.startswith(("DD_", "DRIFTGATE_"))]:
            monkeypatch.delenv(name)
        monkeypatch.setenv("DD_LLMOBS_OVERRIDE_ORIGIN", server.url)
        monkeypatch.chdir(tmp_path)  # not a git repository: no default branch
        yield found
    store.close()


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(["history", *args])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def listed(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    code, out, err = run_cli(capsys, "list", "--format", "json", *args)
    assert code == 0, err
    shown: dict[str, Any] = json.loads(out)
    return shown


def test_list_shows_the_newest_runs_with_their_figures(
    recorded: Recorded, capsys: pytest.CaptureFixture[str]
) -> None:
    shown = listed(capsys, "--pipeline", "capitals", "--branch", "main")
    assert (shown["pipeline"], shown["branch"]) == ("capitals", "main")
    assert [r["id"] for r in shown["runs"]] == [recorded.running, recorded.newer, recorded.older]
    running, newer, older = shown["runs"]
    assert running["status"] == "running" and running["metrics"] == {}
    assert (newer["commit"], newer["runs"], newer["records"], newer["rows"]) == ("b" * 40, 2, 4, 8)
    assert newer["error_rate"] == pytest.approx(1 / 8)
    figures = {label: (m["measure"], m["value"]) for label, m in newer["metrics"].items()}
    # Per record, its runs averaged: A 1/2, B 1, C 0, D 1 (run 2 raised: run 1 only).
    assert figures["exact_match"] == ("pass_rate", pytest.approx(0.625))
    # A (0.9 + 0.2)/2, B 0.9, C (0.4 + 0.4)/2, D 0.9.
    assert figures["similarity"] == ("mean", pytest.approx((0.55 + 0.9 + 0.4 + 0.9) / 4))
    # The judge's assessment: A 1/2, B 1, C 0 (run 2; run 1 errored), D 1.
    assert figures["judge"] == ("pass_rate", pytest.approx(0.625))
    assert older["metrics"]["exact_match"]["value"] == 1.0
    # Every branch, and one at most.
    everywhere = listed(capsys, "--all-branches", "--limit", "10")
    assert len(everywhere["runs"]) == 4 and everywhere["branch"] is None
    assert [r["id"] for r in listed(capsys, "--branch", "main", "--limit", "1")["runs"]] == [
        recorded.running
    ]


def test_list_as_a_table(recorded: Recorded, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "list", "--pipeline", "capitals")
    assert code == 0
    # No git repository here: no default branch, said, and every branch listed.
    assert "no default branch found" in err
    head, _, header, *rows = out.splitlines()
    assert head == "capitals on every branch: 4 runs, newest first (the experiments API at " + (
        f"{recorded.url})"
    )
    assert header.split() == [
        "created", "commit", "branch", "runs", "records", "errors", "exact_match", "judge",
        "similarity",
    ]  # fmt: skip
    assert rows[0].split()[2:5] == ["dddddddddddd", "(running)", "main"]
    assert rows[1].split()[2:] == [
        "bbbbbbbbbbbb", "main", "2", "4", "12.5%", "62.5%", "62.5%", "0.688",
    ]  # fmt: skip
    assert rows[2].split()[2:4] == ["cccccccccccc", "feature"]


def _rows_of(folder: Path) -> dict[str, list[str]]:
    return {
        str(p.relative_to(folder)): p.read_text().splitlines()[1:]
        for p in sorted(folder.rglob("*.jsonl"))
    }


def test_export_import_export_keeps_every_row_and_figure(
    recorded: Recorded, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    code, _, err = run_cli(capsys, "export", "--all-branches", "--out", str(first))
    assert code == 0, err
    assert "not exported, as they did not finish: capitals-" in err and "(running)" in err
    files = sorted(p.relative_to(first).as_posix() for p in first.rglob("*.jsonl"))
    assert len(files) == 3
    assert all(f.startswith("runs/capitals/") for f in files)
    assert any(f.endswith(f"-bbbbbbbbbbbb-{recorded.newer}.jsonl") for f in files)
    # Into a fresh embedded store, served by the command itself.
    fresh = str(tmp_path / "b.db")
    code, _, err = run_cli(capsys, "import", "--db", fresh, str(first))
    assert code == 0, err
    assert err.strip().endswith("3 imported, 0 skipped, into the embedded store")
    # Again: nothing twice.
    code, _, err = run_cli(capsys, "import", "--db", fresh, str(first))
    assert code == 0
    assert err.count("skipped") == 4 and "imported before as experiment" in err
    code, _, err = run_cli(capsys, "export", "--db", fresh, "--all-branches", "--out", str(second))
    assert code == 0, err
    assert _rows_of(second) == _rows_of(first)  # same files, same rows
    for path in first.rglob("*.jsonl"):
        before = decode_run(path.read_bytes())
        after = decode_run((second / path.relative_to(first)).read_bytes())
        assert after.origin_id == before.info.id and after.recorded_at == before.info.created_at
        assert (after.commit, after.branch, after.pipeline) == (
            before.commit,
            before.branch,
            before.pipeline,
        )
    # The listing's figures are the same in both backends.
    here = listed(capsys, "--all-branches")["runs"]
    there = listed(capsys, "--db", fresh, "--all-branches")["runs"]
    keep = ("commit", "branch", "created_at", "runs", "records", "rows", "error_rate", "metrics")
    assert [{k: r[k] for k in keep} for r in there] == [
        {k: r[k] for k in keep} for r in here if r["status"] == "completed"
    ]
    assert {r["imported_from"] for r in there} == {recorded.older, recorded.newer, recorded.feature}


def test_importing_into_the_backend_the_runs_came_from_skips_them(
    recorded: Recorded, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert run_cli(capsys, "export", "--branch", "main", "--out", str(out))[0] == 0
    code, _, err = run_cli(capsys, "import", str(out))
    assert code == 0
    assert f"it is there already (experiment {recorded.older})" in err
    assert err.strip().endswith(
        "0 imported, 2 skipped, into " + f"the experiments API at {recorded.url}"
    )


def test_a_run_beyond_the_formats_bounds_is_left_out_and_said(
    recorded: Recorded, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    api = Api(recorded.url)
    project = api.project("capitals")
    dataset = api.dataset(project, "capitals-of-the-world")["id"]
    tags = {"tags": ["git.branch:main", "ci.pipeline:capitals", f"git.commit.sha:{'e' * 40}"]}
    eid = str(api.experiment(project, dataset, "capitals", metadata=tags)["id"])
    post_spans(api, [span(eid, "long1", "k" * 2000)])
    api.patch(eid, status="completed")
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, "export", "--branch", "main", "--out", str(out))
    assert code == 0
    assert "not exported: capitals: record key 'kkkk" in err and "(at most 1000)" in err
    assert len(list(out.rglob("*.jsonl"))) == 2


def test_a_missing_folder_is_one_line(
    recorded: Recorded, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(capsys, "import", "--db", "b.db", "nowhere")
    assert code == EXIT_USAGE
    assert err.splitlines()[-1] == (
        "driftgate: error: history import: nowhere does not exist; give the folder "
        "`driftgate history export --out` wrote, or files in it"
    )


def test_a_garbage_file_names_itself_and_nothing_is_imported(
    recorded: Recorded, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert run_cli(capsys, "export", "--branch", "main", "--out", str(out))[0] == 0
    bad = next(out.rglob("*.jsonl"))
    lines = bad.read_bytes().split(b"\n")
    lines[2] = b'{"k": "A", "i": "two"}'
    bad.write_bytes(b"\n".join(lines))
    code, _, err = run_cli(capsys, "import", "--db", str(tmp_path / "b.db"), str(out))
    assert code == EXIT_USAGE
    [line] = [line for line in err.splitlines() if "error" in line]
    assert line.startswith(f"driftgate: error: history import: {bad}: line 3: 'i' must be")
    assert "nothing was imported" in line
    assert listed(capsys, "--db", str(tmp_path / "b.db"), "--all-branches")["runs"] == []


def test_a_bad_limit_is_a_usage_error(
    recorded: Recorded, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(capsys, "list", "--limit", "0")
    assert code == EXIT_USAGE
    assert err == "driftgate: error: --limit 0: give a number of runs from 1 to 1000\n"


@dataclass
class Faulty:
    flaky: Flaky
    url: str


@pytest.fixture
def faulty() -> Iterator[Faulty]:
    store = Store()
    wrapped = Flaky(create_app(store))
    with BackgroundServer(wrapped) as server:
        yield Faulty(wrapped, server.url)
    store.close()


@pytest.mark.parametrize(
    ("match", "fault", "words"),
    [
        ("/projects", Fault(401), "refused the keys (HTTP 401): set DD_API_KEY and DD_APP_KEY"),
        ("/projects", Fault(404), "answered 404 for the project 'capitals'"),
        (
            "/api/unstable/llm-obs/v1/experiments",
            Fault(500, b'{"errors":[{"detail":"disk on fire"}]}'),
            "refused the experiment 'capitals' with HTTP 500: disk on fire",
        ),
    ],
)
def test_backend_failures_exit_3_in_one_line(
    recorded: Recorded,
    faulty: Faulty,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    match: str,
    fault: Fault,
    words: str,
) -> None:
    out = tmp_path / "out"
    assert run_cli(capsys, "export", "--branch", "main", "--out", str(out))[0] == 0
    monkeypatch.setenv("DD_LLMOBS_OVERRIDE_ORIGIN", faulty.url)
    faulty.flaky.match = match
    faulty.flaky.fail(fault)
    code, _, err = run_cli(capsys, "import", str(out))
    assert code == EXIT_BACKEND
    *_, last = err.splitlines()
    assert last.startswith("driftgate: error: ") and words in last, err
