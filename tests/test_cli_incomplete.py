"""Incomplete experiments, end to end: a 300-record experiment recorded by the real ddtrace
SDK into the embedded store, then some of its task spans deleted from the store's SQLite
(what is left when ddtrace gave up on an unreachable backend: the experiment `completed`,
the script exited 0). `driftgate compare` flags the shortfall per run, fails where the
configuration says so, and leaves complete experiments alone."""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from driftgate import cli
from driftgate import verdict as outcome
from driftgate.store.server import BackgroundStore
from tests.conftest import SCRIPTS, ddtrace_env, run_script

RECORDS = 300


@dataclass(frozen=True)
class Recorded:
    db: Path
    baseline: str
    candidate: str
    dataset_version: int


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    tmp = tmp_path_factory.mktemp("incomplete")
    db = tmp / "store.db"
    with BackgroundStore(str(db)) as store:
        run_script(
            SCRIPTS / "incomplete_experiment.py",
            str(tmp / "ids.json"),
            env=ddtrace_env(store.url),
            timeout=300,
        )
    ids = json.loads((tmp / "ids.json").read_text())
    return Recorded(
        db,
        ids["experiments"]["baseline"],
        ids["experiments"]["candidate"],
        ids["dataset_version"],
    )


@dataclass(frozen=True)
class Copy:
    db: Path
    recorded: Recorded

    def drop_task_spans(self, experiment: str, run: int, count: int) -> None:
        """Delete `count` task spans of one run, as ddtrace leaves them when it gives up."""
        with sqlite3.connect(self.db) as conn:
            gone = conn.execute(
                "DELETE FROM spans WHERE rowid IN (SELECT rowid FROM spans WHERE "
                "experiment_id = ? AND is_root = 1 AND run_iteration = ? ORDER BY start_ns "
                "DESC LIMIT ?)",
                (experiment, run, count),
            ).rowcount
        conn.close()
        assert gone == count


@pytest.fixture
def store(recorded: Recorded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Copy:
    """A copy of the recorded store for one test to damage, and the command's environment."""
    db = tmp_path / "store.db"
    with sqlite3.connect(recorded.db) as source, sqlite3.connect(db) as target:
        source.backup(target)
    source.close()
    target.close()
    for name in [n for n in os.environ if n.startswith(("DD_", "DRIFTGATE_"))]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # where each test writes its driftgate.toml, if any
    return Copy(db, recorded)


def _compare(
    copy: Copy, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str
) -> tuple[int, str]:
    with BackgroundStore(str(copy.db)) as served:
        monkeypatch.setenv("DD_LLMOBS_OVERRIDE_ORIGIN", served.url)
        code = cli.main(
            [
                "compare",
                "--candidate",
                copy.recorded.candidate,
                "--baseline",
                copy.recorded.baseline,
                *args,
            ]
        )
    out, err = capsys.readouterr()
    assert code in (outcome.EXIT_OK, outcome.EXIT_GATE_FAILED), err
    return code, out


def _json(
    copy: Copy, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, dict[str, Any]]:
    code, out = _compare(copy, capsys, monkeypatch, "--format", "json")
    return code, json.loads(out)


def test_complete_experiments_are_not_flagged(
    store: Copy, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (store.db.parent / "driftgate.toml").write_text('incomplete = "fail"\n')
    code, report = _json(store, capsys, monkeypatch)
    assert code == outcome.EXIT_OK
    assert report["verdict"] == "pass"
    for side in ("candidate", "baseline"):
        assert report[side]["dataset_records"] == RECORDS
        assert report[side]["records_per_run"] == [
            {"run": 1, "records": RECORDS},
            {"run": 2, "records": RECORDS},
        ]
    assert not any("incomplete" in w for w in report["warnings"])


def test_missing_task_spans_warn_by_default_with_per_run_counts(
    store: Copy, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store.drop_task_spans(store.recorded.candidate, run=2, count=16)
    code, report = _json(store, capsys, monkeypatch)
    # Every metric holds over the records left: the shortfall alone makes it a warning.
    assert all(m["gate"] == "pass" for m in report["metrics"])
    assert report["verdict"] == "warn"
    assert code == outcome.EXIT_OK
    assert report["incomplete"] == "warn"
    assert report["candidate"]["records_per_run"] == [
        {"run": 1, "records": RECORDS},
        {"run": 2, "records": RECORDS - 16},
    ]
    version = store.recorded.dataset_version
    assert report["warnings"][0].startswith(
        f"the candidate is incomplete: run 2: 284 of 300 records of its dataset version {version};"
    )
    # The terminal says it too.
    _, text = _compare(store, capsys, monkeypatch)
    assert "the candidate is incomplete: run 2: 284 of 300 records" in text


def test_with_incomplete_fail_the_verdict_fails_for_either_side(
    store: Copy, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (store.db.parent / "driftgate.toml").write_text('incomplete = "fail"\n')
    store.drop_task_spans(store.recorded.baseline, run=1, count=80)
    code, report = _json(store, capsys, monkeypatch)
    assert code == outcome.EXIT_GATE_FAILED
    assert report["verdict"] == "fail"
    assert report["warnings"][0].startswith("the baseline is incomplete: run 1: 220 of 300 records")
    assert 'the gate fails (incomplete = "fail")' in report["warnings"][0]
    assert all(m["gate"] == "pass" for m in report["metrics"])
    _, text = _compare(store, capsys, monkeypatch)
    assert "## driftgate: FAIL" in text
    assert "300 records x 2 runs, incomplete (run 1: 220 of 300 records)" in text


def test_with_incomplete_off_nothing_is_said(
    store: Copy, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (store.db.parent / "driftgate.toml").write_text('incomplete = "off"\n')
    store.drop_task_spans(store.recorded.candidate, run=1, count=40)
    code, report = _json(store, capsys, monkeypatch)
    assert code == outcome.EXIT_OK
    assert report["verdict"] == "pass"
    assert not any("incomplete" in w for w in report["warnings"])
