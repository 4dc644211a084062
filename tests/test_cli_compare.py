"""`driftgate compare` end to end: the command against the real store over HTTP, with faults
injected in front of it. Mostly in-process through `driftgate.cli.main` (the client, HTTP,
the store and the events parsing all run); as a real process where what matters is what a
user's terminal shows (no traceback, no key)."""

from __future__ import annotations

import functools
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
from driftgate import verdict as outcome
from driftgate.experiments import client as datadog
from driftgate.store.app import create_app
from driftgate.store.db import Store
from driftgate.store.server import BackgroundServer
from tests.fakes.flaky import Fault, Flaky
from tests.storeapi import Api, metric, post_metrics, post_spans, span

RECORDS = 40
CONTRACT_TOP = {"verdict", "candidate", "baseline", "baseline_reason", "metrics", "records"}
CONTRACT_METRIC = {
    *("name", "kind", "baseline", "candidate", "delta", "ci_low", "ci_high"),
    *("p_value", "n", "verdict", "gate"),
}
KINDS = ("boolean", "score", "categorical", "summary", "errors", "tokens", "cost", "latency")
CONTRACT_REF = {"id", "name", "experiment", "commit", "url", "created_at"}
API_SECRET, APP_SECRET = "dd-api-0123456789abcdef", "dd-app-fedcba9876543210"


@dataclass
class Served:
    url: str
    api: Api
    flaky: Flaky
    project: str
    dataset: str

    def record(self, name: str, runs: list[list[bool]]) -> str:
        """A completed experiment with one run per list: record `i` passes `correct` in run
        `r` when `runs[r][i]`, and scores `quality` 0.9 when it passes, 0.4 when not."""
        api = self.api
        eid = str(
            api.experiment(
                self.project, self.dataset, name, run_count=len(runs), ensure_unique=True
            )["id"]
        )
        for run, passed in enumerate(runs, start=1):
            ids = [f"{run}{i:04d}" for i in range(len(passed))]
            post_spans(
                api,
                [
                    span(eid, sid, f"r{i}", run=run, metrics={"total_tokens": 100.0})
                    for i, sid in enumerate(ids)
                ],
            )
            post_metrics(
                api,
                eid,
                [metric(sid, "correct", "boolean", ok) for sid, ok in zip(ids, passed, strict=True)]
                + [
                    metric(sid, "quality", "score", 0.9 if ok else 0.4)
                    for sid, ok in zip(ids, passed, strict=True)
                ],
                run=run,
            )
        api.patch(eid, status="completed")
        return eid


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Served]:
    """The store app behind a fault injector, and the command's environment pointing at it."""
    store = Store(str(tmp_path / "store.db"))
    flaky = Flaky(create_app(store))
    with BackgroundServer(flaky) as server:
        api = Api(server.url)
        project = api.project("capitals")
        dataset = api.dataset(project)["id"]
        api.batch(
            project,
            dataset,
            insert_records=[{"id": f"r{i}", "input": {"q": i}} for i in range(RECORDS)],
        )
        for name in [n for n in os.environ if n.startswith(("DD_", "DRIFTGATE_"))]:
            monkeypatch.delenv(name)
        monkeypatch.setenv("DD_LLMOBS_OVERRIDE_ORIGIN", server.url)
        monkeypatch.chdir(tmp_path)  # no driftgate.toml here: the default gate
        yield Served(server.url, api, flaky, project, dataset)
    store.close()


def compare(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(["compare", *args])
    out, err = capsys.readouterr()
    return code, out, err


def compare_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code, out, err = compare(capsys, *args, "--format", "json")
    assert code in (0, 1), err
    return code, json.loads(out)


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["name"]: m for m in report["metrics"]}


ALL_PASS = [True] * RECORDS
HALF_FAIL = [i % 2 == 0 for i in range(RECORDS)]  # 20 of the 40 records now fail
ALL_FAIL = [False] * RECORDS


def test_a_regression_fails_with_the_json_contract(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    baseline = served.record("capitals", [ALL_PASS])
    candidate = served.record("capitals", [HALF_FAIL])
    code, report = compare_json(capsys, "--candidate", candidate, "--baseline", baseline)
    assert code == outcome.EXIT_GATE_FAILED
    assert set(report) >= CONTRACT_TOP
    assert report["verdict"] == "fail"
    assert set(report["candidate"]) >= CONTRACT_REF
    assert report["candidate"]["id"] == candidate
    assert report["baseline"]["id"] == baseline
    assert report["candidate"]["experiment"] == "capitals"
    assert report["baseline_reason"] == f"chosen explicitly ({baseline})"
    for m in report["metrics"]:
        assert set(m) >= CONTRACT_METRIC, m["name"]
        assert m["kind"] in KINDS
        assert m["verdict"] in ("regressed", "improved", "unchanged", "inconclusive")
        assert m["gate"] in ("fail", "warn", "pass")
    assert {"correct", "quality", "errors", "tokens"} <= set(by_name(report))
    correct = by_name(report)["correct"]
    assert correct["kind"] == "boolean"
    assert (correct["baseline"], correct["candidate"], correct["delta"]) == (1.0, 0.5, -0.5)
    assert correct["n"] == RECORDS
    assert correct["p_value"] < 0.001  # 20 pass -> fail flips and none the other way
    assert correct["ci_low"] < correct["delta"] < correct["ci_high"] < 0
    assert (correct["verdict"], correct["gate"]) == ("regressed", "fail")
    quality = by_name(report)["quality"]
    assert quality["kind"] == "score"
    assert quality["delta"] == pytest.approx(-0.25)
    assert (quality["verdict"], quality["gate"]) == ("regressed", "fail")
    records = report["records"]
    assert records["compared"] == RECORDS
    assert sorted(records["regressed"]) == sorted(f"r{i}" for i in range(1, RECORDS, 2))
    assert records["improved"] == []


def test_no_change_passes(served: Served, capsys: pytest.CaptureFixture[str]) -> None:
    baseline = served.record("capitals", [HALF_FAIL])
    candidate = served.record("capitals", [HALF_FAIL])
    code, report = compare_json(capsys, "--candidate", candidate, "--baseline", baseline)
    assert code == outcome.EXIT_OK
    assert report["verdict"] == "pass"
    correct = by_name(report)["correct"]
    assert (correct["delta"], correct["p_value"]) == (0.0, 1.0)
    # 40 records cannot rule out a 2-point change in a pass rate: inconclusive, not failing.
    assert correct["ci_low"] < -0.02 < 0.02 < correct["ci_high"]
    assert (correct["verdict"], correct["gate"]) == ("inconclusive", "pass")
    quality = by_name(report)["quality"]  # every score identical: nothing moved
    assert (quality["delta"], quality["p_value"], quality["ci_low"], quality["ci_high"]) == (
        0.0,
        1.0,
        0.0,
        0.0,
    )
    assert quality["verdict"] == "unchanged"
    assert all(m["gate"] == "pass" for m in report["metrics"])
    assert report["records"]["regressed"] == report["records"]["improved"] == []


def test_id_at_n_selects_one_run_on_either_side(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    # Run 1 of the baseline passes everything; run 3 of the candidate fails everything, its
    # other runs pass everything. Only the chosen runs can make a regression of it.
    baseline = served.record("capitals", [ALL_PASS, ALL_FAIL, ALL_FAIL])
    candidate = served.record("capitals", [ALL_PASS, ALL_PASS, ALL_FAIL])
    code, report = compare_json(
        capsys, "--candidate", f"{candidate}@3", "--baseline", f"{baseline}@1"
    )
    assert code == outcome.EXIT_GATE_FAILED
    assert (report["candidate"]["id"], report["candidate"]["run"]) == (candidate, 3)
    assert (report["baseline"]["id"], report["baseline"]["run"]) == (baseline, 1)
    correct = by_name(report)["correct"]
    assert (correct["baseline"], correct["candidate"], correct["n"]) == (1.0, 0.0, RECORDS)
    assert correct["verdict"] == "regressed"

    code, report = compare_json(
        capsys, "--candidate", f"{candidate}@1", "--baseline", f"{baseline}@1"
    )
    assert code == outcome.EXIT_OK
    correct = by_name(report)["correct"]
    assert (correct["baseline"], correct["candidate"], correct["gate"]) == (1.0, 1.0, "pass")

    # All runs on both sides: each record averaged over its runs, 1/3 -> 2/3.
    code, report = compare_json(capsys, "--candidate", candidate, "--baseline", baseline)
    assert code == outcome.EXIT_OK
    correct = by_name(report)["correct"]
    assert correct["baseline"] == pytest.approx(1 / 3)
    assert correct["candidate"] == pytest.approx(2 / 3)
    assert correct["verdict"] == "improved"


@pytest.mark.parametrize("side", ["--candidate", "--baseline"])
@pytest.mark.parametrize("suffix", ["@x", "@0", "@"])
def test_a_bad_run_suffix_is_a_usage_error(
    served: Served, capsys: pytest.CaptureFixture[str], side: str, suffix: str
) -> None:
    experiment = served.record("capitals", [ALL_PASS])
    refs = {"--candidate": experiment, "--baseline": experiment}
    refs[side] += suffix
    code, out, err = compare(capsys, *[a for pair in refs.items() for a in pair])
    assert code == outcome.EXIT_USAGE
    assert out == ""
    assert f"{experiment}{suffix}" in err
    assert "the run after @ must be a number from 1" in err
    assert "Traceback" not in err


def test_a_run_the_experiment_does_not_have_names_the_runs_it_has(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    experiment = served.record("capitals", [ALL_PASS, ALL_PASS])
    code, _, err = compare(capsys, "--candidate", f"{experiment}@5", "--baseline", experiment)
    assert code == outcome.EXIT_BACKEND
    assert "has no run 5 (it has 2 runs: use @1 to @2)" in err


@pytest.mark.parametrize("side", ["--candidate", "--baseline"])
def test_an_unknown_id_is_named(
    served: Served, capsys: pytest.CaptureFixture[str], side: str
) -> None:
    experiment = served.record("capitals", [ALL_PASS])
    missing = "00000000-0000-4000-8000-00000000dead"
    refs = {"--candidate": experiment, "--baseline": experiment, side: missing}
    code, out, err = compare(capsys, *[a for pair in refs.items() for a in pair])
    assert out == ""
    if side == "--baseline":
        # Checked first, as `run` checks it before its command: a usage error, with the fix.
        assert code == outcome.EXIT_USAGE
        assert f"--baseline: no experiment {missing!r} in the experiments API at " in err
    else:
        assert code == outcome.EXIT_BACKEND
        assert f"experiment {missing!r} does not exist" in err


def test_markdown_is_a_readable_table(served: Served, capsys: pytest.CaptureFixture[str]) -> None:
    baseline = served.record("capitals", [ALL_PASS])
    candidate = served.record("capitals", [HALF_FAIL])
    code, out, _ = compare(capsys, "--candidate", candidate, "--baseline", baseline)
    assert code == outcome.EXIT_GATE_FAILED
    lines = out.splitlines()
    assert lines[0].startswith("## driftgate: FAIL (capitals")
    header = "| metric | baseline | candidate | delta | interval | p | verdict | gate |"
    table = lines[lines.index(header) :]
    rows = table[2 : table.index("")]
    # Failing metrics first; pass rates in percent and points.
    assert rows[0].startswith("| correct | 100.0% | 50.0% | -50.0 pts | [")
    assert rows[0].endswith("| <0.001 | regressed | fail |")
    assert any(r.startswith("| quality | 0.9 | 0.65 | -0.25 (-28%) |") for r in rows), rows
    assert all(r.count("|") == header.count("|") for r in rows)
    assert f"Records: {RECORDS} compared, {RECORDS // 2} regressed, 0 improved" in out
    # Each record headed by its input, its id on the line below, copyable as is.
    assert "### regressed: q: r1 (" in out
    assert "\n- record: r1\n" in out


# -- configuration: as a user's terminal shows it --------------------------------------------


def _run(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DD_", "DRIFTGATE_"))}
    return subprocess.run(
        [sys.executable, "-m", "driftgate.cli", *args],
        cwd=cwd,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[metrics.correct]\nlevel = "block"\n', "metrics.correct.level"),
        ("alpha = 0.7\n", "alpha"),
        ("[budgets]\ncost = { max_increase = -1 }\n", "budgets.cost.max_increase"),
        ("alpah = 0.1\n", "alpah"),
    ],
)
def test_a_malformed_config_names_the_file_and_key(
    served: Served, tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, key: str
) -> None:
    config = tmp_path / "gate.toml"
    config.write_text(text)
    code, out, err = compare(capsys, "--candidate", "c", "--baseline", "b", "--config", str(config))
    assert code == outcome.EXIT_USAGE
    assert out == ""
    assert err.startswith(f"driftgate: error: {config}: ")
    assert key in err


def test_a_malformed_config_in_a_real_terminal_is_one_line(served: Served, tmp_path: Path) -> None:
    (tmp_path / "driftgate.toml").write_text('[metrics.correct]\nlevel = "block"\n')
    proc = _run(
        "compare",
        "--candidate",
        "c",
        "--baseline",
        "b",
        cwd=tmp_path,
        DD_LLMOBS_OVERRIDE_ORIGIN=served.url,
    )
    assert proc.returncode == outcome.EXIT_USAGE, proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    [line] = proc.stderr.splitlines()
    config = tmp_path / "driftgate.toml"
    assert line == (
        f'driftgate: error: {config}: metrics.correct.level = "block" is not valid; '
        "expected one of: fail, warn, off"
    )


def test_the_config_file_in_the_working_directory_is_used(
    served: Served, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    baseline = served.record("capitals", [ALL_PASS])
    candidate = served.record("capitals", [HALF_FAIL])
    (tmp_path / "driftgate.toml").write_text('[metrics."*"]\nlevel = "warn"\n')
    code, report = compare_json(capsys, "--candidate", candidate, "--baseline", baseline)
    assert code == outcome.EXIT_OK  # a warning does not fail the command
    assert report["verdict"] == "warn"
    assert by_name(report)["correct"]["gate"] == "warn"


# -- faults: through the command -------------------------------------------------------------


def test_rate_limits_and_server_errors_are_survived(
    served: Served, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    baseline = served.record("capitals", [ALL_PASS])
    candidate = served.record("capitals", [HALF_FAIL])
    # Backoff timing is the client's own test; here a short one keeps this test fast.
    # `Retry-After` is still honoured: one real second.
    monkeypatch.setattr(
        datadog, "RetryPolicy", functools.partial(datadog.RetryPolicy, base_delay=0.01)
    )
    served.flaky.seen.clear()
    served.flaky.fail(
        Fault(429, b'{"errors": ["Too many requests"]}', {"Retry-After": "1"}),
        Fault(500, b'{"errors": ["Internal Server Error"]}'),
        Fault(500, b'{"errors": ["Internal Server Error"]}'),
    )
    code, report = compare_json(capsys, "--candidate", candidate, "--baseline", baseline)
    assert code == outcome.EXIT_GATE_FAILED
    assert report["verdict"] == "fail"
    assert by_name(report)["correct"]["n"] == RECORDS
    statuses = [status for _, _, status in served.flaky.seen]
    assert statuses[:4] == [429, 500, 500, 0]  # the fourth attempt went through
    assert served.flaky.seen[3][1] == served.flaky.seen[0][1]  # the same request, retried
    assert not served.flaky.faults


def test_refused_keys_exit_3_naming_the_variables_never_the_keys(
    served: Served, tmp_path: Path
) -> None:
    experiment = served.record("capitals", [ALL_PASS])
    served.flaky.fail(Fault(401, b'{"errors": ["Unauthorized"]}'))
    proc = _run(
        "compare",
        "--candidate",
        experiment,
        "--baseline",
        experiment,
        cwd=tmp_path,
        DD_LLMOBS_OVERRIDE_ORIGIN=served.url,
        DD_API_KEY=API_SECRET,
        DD_APP_KEY=APP_SECRET,
    )
    assert proc.returncode == outcome.EXIT_BACKEND
    assert proc.stdout == ""
    assert "HTTP 401" in proc.stderr
    assert "DD_API_KEY" in proc.stderr
    assert "DD_APP_KEY" in proc.stderr
    assert "Traceback" not in proc.stderr
    for secret in (API_SECRET, APP_SECRET):
        assert secret not in proc.stdout + proc.stderr
    # 401 is not retried: asking again with the same keys cannot help.
    assert [status for _, _, status in served.flaky.seen].count(401) == 1


def test_a_store_that_requires_other_keys_is_refused_without_echoing_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store = Store()
    with BackgroundServer(create_app(store, api_key="right-api", app_key="right-app")) as server:
        monkeypatch.setenv("DD_LLMOBS_OVERRIDE_ORIGIN", server.url)
        monkeypatch.setenv("DD_API_KEY", API_SECRET)
        monkeypatch.setenv("DD_APP_KEY", APP_SECRET)
        monkeypatch.chdir(tmp_path)
        code, out, err = compare(capsys, "--candidate", "some-id", "--baseline", "other-id")
    store.close()
    assert code == outcome.EXIT_BACKEND
    assert "HTTP 403" in err
    assert "DD_API_KEY" in err
    assert "DD_APP_KEY" in err
    for secret in (API_SECRET, APP_SECRET, "right-api", "right-app"):
        assert secret not in out + err
