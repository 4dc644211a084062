"""`driftgate compare --where` and the configuration's `where` end to end: 3-run experiments
with tagged records recorded into the real store over HTTP, compared through
`driftgate.cli.main`; malformed queries as a user's terminal shows them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from driftgate import cli
from driftgate.errors import EXIT_USAGE
from driftgate.store.app import create_app
from driftgate.store.db import Store
from driftgate.store.server import BackgroundServer
from driftgate.verdict import EXIT_GATE_FAILED as EXIT_FAIL
from driftgate.verdict import EXIT_OK
from tests.storeapi import Api, metric, post_metrics, post_spans, span

RECORDS = [f"r{i}" for i in range(40)]
HARD = set(RECORDS[:20])
RUNS = 3
Passes = Callable[[str, int], bool]


@dataclass
class Served:
    api: Api
    project: str
    dataset: str

    def record(self, passes: Passes, missing: frozenset[tuple[str, int]] = frozenset()) -> str:
        """A completed 3-run experiment: `correct` passes on record `r` in run `n` when
        `passes(r, n)`; the (record, run) pairs in `missing` lost their task span."""
        api = self.api
        eid = str(
            api.experiment(
                self.project, self.dataset, "capitals", run_count=RUNS, ensure_unique=True
            )["id"]
        )
        for run in range(1, RUNS + 1):
            kept = [(i, r) for i, r in enumerate(RECORDS) if (r, run) not in missing]
            ids = {r: f"{run}{i:04d}" for i, r in kept}
            post_spans(api, [span(eid, ids[r], r, run=run) for _, r in kept])
            post_metrics(
                api,
                eid,
                [metric(ids[r], "correct", "boolean", passes(r, run)) for _, r in kept],
                run=run,
            )
        api.patch(eid, status="completed")
        return eid


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Served]:
    store = Store(str(tmp_path / "store.db"))
    with BackgroundServer(create_app(store)) as server:
        api = Api(server.url)
        project = api.project("capitals")
        dataset = api.dataset(project)["id"]
        api.batch(
            project,
            dataset,
            insert_records=[
                {
                    "id": r,
                    "input": {"q": r},
                    "tags": [f"difficulty:{'hard' if r in HARD else 'easy'}"],
                }
                for r in RECORDS
            ],
        )
        for name in [n for n in os.environ if n.startswith(("DD_", "DRIFTGATE_"))]:
            monkeypatch.delenv(name)
        monkeypatch.setenv("DD_LLMOBS_OVERRIDE_ORIGIN", server.url)
        monkeypatch.chdir(tmp_path)
        yield Served(api, project, dataset)
    store.close()


def compare(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any], str]:
    code = cli.main(["compare", *args, "--format", "json"])
    out, err = capsys.readouterr()
    assert code in (EXIT_OK, EXIT_FAIL), err
    return code, json.loads(out), err


def correct(report: dict[str, Any]) -> dict[str, Any]:
    [metric] = [m for m in report["metrics"] if m["name"] == "correct"]
    return metric


def always(record: str, run: int) -> bool:
    return True


def easy_only(record: str, run: int) -> bool:
    return record not in HARD


@pytest.fixture
def hard_regressed(served: Served) -> tuple[str, str]:
    """The baseline passes everywhere; the candidate fails every hard record."""
    return served.record(always), served.record(easy_only)


def test_a_regression_in_hard_records_is_found_where_hard_and_not_where_easy(
    hard_regressed: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    baseline, candidate = hard_regressed
    ids = ("--candidate", candidate, "--baseline", baseline)
    code, report, _ = compare(capsys, *ids, "--where", "difficulty:hard")
    assert code == EXIT_FAIL
    assert report["verdict"] == "fail"
    assert correct(report)["verdict"] == "regressed"
    assert (correct(report)["baseline"], correct(report)["candidate"]) == (1.0, 0.0)
    assert report["records"]["compared"] == 20
    assert report["candidate"]["records"] == report["baseline"]["records"] == 20
    assert (
        "candidate: restricted by --where to `difficulty:hard`: 20 of 40 records "
        "(the rows matching it); completeness is judged on the whole run"
    ) in report["warnings"]
    # The 20 records the query left out are not lost records.
    assert not [w for w in report["warnings"] if "incomplete" in w]

    code, report, _ = compare(capsys, *ids, "--where", "difficulty:easy")
    assert code == EXIT_OK
    assert report["verdict"] == "pass"
    assert correct(report)["verdict"] != "regressed"
    assert report["records"]["compared"] == 20


def test_run_iteration_restricts_both_sides_to_one_run(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    """A row-level term selects rows on each side: here only run 2 regressed."""
    baseline = served.record(always)
    candidate = served.record(lambda r, run: run != 2)
    ids = ("--candidate", candidate, "--baseline", baseline)
    code, report, _ = compare(capsys, *ids, "--where", "run_iteration:2")
    assert code == EXIT_FAIL
    assert (correct(report)["baseline"], correct(report)["candidate"]) == (1.0, 0.0)
    assert [r["run"] for r in report["candidate"]["records_per_run"]] == [1, 2, 3]
    assert [r["records"] for r in report["candidate"]["records_per_run"]] == [0, 40, 0]
    code, report, _ = compare(capsys, *ids, "--where", "run_iteration:1")
    assert code == EXIT_OK


def test_a_multi_run_where_keeps_the_records_that_match_on_either_side(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    """The baseline fails r0..r4, the candidate r5..r9: as often as each other. Chosen by
    the candidate alone, "the records that mostly fail" would be 100% -> 0%; chosen on
    either side, both fail 5 of the 10 kept."""
    baseline = served.record(lambda r, run: r not in {f"r{i}" for i in range(5)})
    candidate = served.record(lambda r, run: r not in {f"r{i}" for i in range(5, 10)})
    query = "@multi_run_avg.@evaluations.custom.correct:<0.5"
    code, report, _ = compare(
        capsys, "--candidate", candidate, "--baseline", baseline, "--where", query
    )
    assert code == EXIT_OK, report
    assert report["records"]["compared"] == 10
    assert correct(report)["baseline"] == correct(report)["candidate"] == 0.5
    assert correct(report)["verdict"] != "regressed"
    assert any(
        w.startswith(f"baseline: restricted by --where to `{query}`: 10 of 40 records")
        and "on either side" in w
        for w in report["warnings"]
    )


def test_records_a_run_lost_are_still_flagged_when_restricted(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    """An easy record lost in run 2 is outside `difficulty:hard`, but the run is still
    incomplete: completeness is a fact about the whole run."""
    baseline = served.record(always)
    candidate = served.record(always, missing=frozenset({("r30", 2)}))
    code, report, _ = compare(
        capsys, "--candidate", candidate, "--baseline", baseline, "--where", "difficulty:hard"
    )
    assert code == EXIT_OK
    assert report["verdict"] == "warn"
    assert report["warnings"][0].startswith(
        "the candidate is incomplete: run 2: 39 of 40 records of its dataset"
    )


def test_what_the_experiment_lacks_is_a_usage_error_at_its_column(
    hard_regressed: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    baseline, candidate = hard_regressed
    query = "difficulty:hard @evaluations.custom.judge:true"
    code = cli.main(["compare", "--candidate", candidate, "--baseline", baseline, "--where", query])
    out, err = capsys.readouterr()
    assert code == EXIT_USAGE
    assert out == ""
    message, shown, caret = err.splitlines()[-3:]
    assert shown == f"  {query}"
    assert message.startswith("driftgate: error: --where: column 17: ")
    assert "judge" in message
    assert caret == "  " + " " * 16 + "^"


# -- the configuration's where -----------------------------------------------------------


def test_the_configs_where_is_used_and_the_flag_wins(
    hard_regressed: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    baseline, candidate = hard_regressed
    ids = ("--candidate", candidate, "--baseline", baseline)
    config = tmp_path / "driftgate.toml"
    config.write_text('where = "difficulty:easy"\n')
    code, report, _ = compare(capsys, *ids)
    assert code == EXIT_OK
    assert report["records"]["compared"] == 20
    assert any(
        w.startswith(f"candidate: restricted by where in {config} to `difficulty:easy`: 20 of 40")
        for w in report["warnings"]
    )
    code, report, _ = compare(capsys, *ids, "--where", "difficulty:hard")
    assert code == EXIT_FAIL
    assert report["records"]["compared"] == 20
    # An empty --where lifts the configuration's: every record.
    code, report, _ = compare(capsys, *ids, "--where", "")
    assert code == EXIT_FAIL
    assert report["records"]["compared"] == 40
    assert not [w for w in report["warnings"] if "restricted" in w]


def test_the_where_of_a_pyproject_is_named_by_its_key(
    hard_regressed: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    baseline, candidate = hard_regressed
    (tmp_path / "pyproject.toml").write_text('[tool.driftgate]\nwhere = "difficulty:hard"\n')
    code, report, _ = compare(capsys, "--candidate", candidate, "--baseline", baseline)
    assert code == EXIT_FAIL
    assert any("restricted by tool.driftgate.where in " in w for w in report["warnings"])


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('where = "difficulty:hard OR lang:en"\n', "column 17: "),
        ("where = 3\n", 'expected a query string such as "difficulty:hard"'),
    ],
)
def test_a_bad_where_in_the_config_is_a_config_error_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, problem: str
) -> None:
    """Read with the configuration, before any backend: no store, no keys needed."""
    config = tmp_path / "gate.toml"
    config.write_text(text)
    code = cli.main(["compare", "--candidate", "c", "--baseline", "b", "--config", str(config)])
    out, err = capsys.readouterr()
    assert code == EXIT_USAGE
    assert out == ""
    first = err.splitlines()[0]
    assert first.startswith(f"driftgate: error: {config}: where = ")
    assert problem in first


def _terminal(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DD_", "DRIFTGATE_"))}
    return subprocess.run(
        [sys.executable, "-m", "driftgate.cli", *args],
        cwd=tmp_path,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("command", ["compare", "run"])
def test_a_malformed_where_in_a_real_terminal(tmp_path: Path, command: str) -> None:
    """Read before any backend opens, and before `run` runs anything: the command named
    would fail if it ran."""
    query = "difficulty:hard @trace.total_tokens:>>1000"
    args = ["--candidate", "c"] if command == "compare" else []
    tail = ["--", "false"] if command == "run" else []
    proc = _terminal(tmp_path, command, *args, "--where", query, *tail)
    assert proc.returncode == EXIT_USAGE, proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    message, shown, caret = proc.stderr.splitlines()[-3:]
    assert message.startswith("driftgate: error: --where: column 38: expected a number")
    assert shown == f"  {query}"
    assert caret == "  " + " " * 37 + "^"
