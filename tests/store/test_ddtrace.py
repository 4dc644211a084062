"""The store driven by the real ddtrace SDK: an unmodified script records into it, and
ddtrace's own readers (`list_experiments`, `pull_experiment`) read back what was recorded."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from driftgate.store.server import BackgroundStore
from tests.conftest import SCRIPTS, ddtrace_env, run_script
from tests.storeapi import Api

FULL, CLEAN = "store-full", "store-clean"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("ddtrace")
    with BackgroundStore(str(tmp / "store.db")) as store:
        env = ddtrace_env(store.url)
        run_script(SCRIPTS / "record.py", str(tmp / "recorded.json"), env=env)
        rec = json.loads((tmp / "recorded.json").read_text())
        ids = [rec["experiments"][n]["id"] for n in (FULL, CLEAN)]
        run_script(SCRIPTS / "read_back.py", str(tmp / "read.json"), *ids, env=env)
        yield {
            "recorded": rec,
            "read": json.loads((tmp / "read.json").read_text()),
            "url": store.url,
            "db": tmp / "store.db",
        }


def _rows(rec: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [row for run in rec["experiments"][name]["runs"] for row in run["rows"]]


def _wire(value: Any) -> Any:
    # ddtrace lower-cases categorical values when it sends them.
    return value.lower() if isinstance(value, str) else value


def test_list_by_name_finds_the_experiment_with_its_attributes(recorded: dict[str, Any]) -> None:
    rec, read = recorded["recorded"], recorded["read"]
    (summary,) = read["by_name"]
    assert summary["id"] == rec["experiments"][FULL]["id"]
    assert summary["experiment"] == FULL
    assert summary["name"].startswith(FULL + "-")
    assert summary["name"][len(FULL) + 1 :].isdigit()
    assert summary["dataset_id"] == rec["dataset_id"]
    assert summary["dataset_version"] == rec["dataset_version"] == 1
    assert summary["run_count"] == 3
    assert summary["config"] == {"model": "sim-1"}
    assert "ci.pipeline:store-test" in summary["tags"]
    assert "git.branch:main" in summary["tags"]
    # ddtrace 4.16 reports an experiment whose task or evaluators raised as failed.
    assert summary["status"] == "failed"
    assert "task exploded on Atlantis" in summary["error"]
    assert "evaluator broke on Japan" in summary["error"]
    assert summary["created_at"]
    assert summary["updated_at"]


def test_list_by_metadata_is_containment_newest_first(recorded: dict[str, Any]) -> None:
    rec, read = recorded["recorded"], recorded["read"]
    assert [e["id"] for e in read["by_tag"]] == [
        rec["experiments"][CLEAN]["id"],
        rec["experiments"][FULL]["id"],
    ]
    assert read["by_missing_tag"] == []
    clean = read["by_tag"][0]
    assert clean["status"] == "completed"
    assert clean["error"] is None


def test_pull_reads_back_every_row_evaluation_and_error(recorded: dict[str, Any]) -> None:
    rec, read = recorded["recorded"], recorded["read"]
    for name in (FULL, CLEAN):
        eid = rec["experiments"][name]["id"]
        pulled = {row["span_id"]: row for row in read["pulled"][eid]["result"]["rows"]}
        recorded_rows = _rows(rec, name)
        assert len(recorded_rows) == 18  # 6 records x 3 runs
        assert set(pulled) == {row["span_id"] for row in recorded_rows}
        for row in recorded_rows:
            got = pulled[row["span_id"]]
            assert got["record_id"] == row["record_id"]
            assert got["input"] == row["input"]
            assert got["expected_output"] == row["expected_output"]
            # A task that raised has no output; ddtrace's span carries {} for it.
            assert got["output"] == (row["output"] if row["output"] is not None else {})
            assert got["duration"] == row["duration"]
            assert got["error"]["message"] == row["error"]["message"]
            assert got["error"]["type"] == row["error"]["type"]
            assert set(got["evaluations"]) == set(row["evaluations"])
            for label, want in row["evaluations"].items():
                have = got["evaluations"][label]
                assert have["value"] == _wire(want["value"]), (name, label)
                assert (have["error"] or {}).get("message") == (want["error"] or {}).get("message")
                assert have["assessment"] == want.get("assessment")
                assert have["reasoning"] == want.get("reasoning")


def test_every_run_is_read_back_with_its_summary_evaluations(recorded: dict[str, Any]) -> None:
    rec = recorded["recorded"]
    eid = rec["experiments"][FULL]["id"]
    body = httpx.get(
        f"{recorded['url']}/api/unstable/llm-obs/v1/experiments/{eid}/events",
        params={"include[eval_metrics]": "true"},
    ).json()["data"]["attributes"]
    runs = sorted({t for s in body["spans"] for t in s["tags"] if t.startswith("run_iteration:")})
    assert runs == ["run_iteration:1", "run_iteration:2", "run_iteration:3"]
    summaries = {(m["run_iteration"], m["label"]): m for m in body["summary_metrics"]}
    for i, run in enumerate(rec["experiments"][FULL]["runs"], start=1):
        for label, want in run["summary_evaluations"].items():
            metric = summaries[(i, label)]
            assert metric[f"{metric['metric_type']}_value"] == _wire(want["value"])


def test_aggregate_data_totals_match_what_was_recorded(recorded: dict[str, Any]) -> None:
    rec, read = recorded["recorded"], recorded["read"]
    (summary,) = read["by_name"]
    agg = summary["aggregate_data"]
    rows = _rows(rec, FULL)
    ok_rows = [r for r in rows if not r["error"]["message"]]
    tokens = {
        "France": (11, 2),
        "Japan": (12, 3),
        "Peru": (13, 4),
        "Chile": (14, 5),
        "Iraq": (15, 6),
    }
    tin = sum(tokens[r["input"]["country"]][0] for r in ok_rows)
    tout = sum(tokens[r["input"]["country"]][1] for r in ok_rows)
    assert agg["total_spans"] == len(rows) + len(ok_rows)  # task spans + their LLM spans
    assert agg["total_errors"] == len(rows) - len(ok_rows) == 3
    assert agg["total_input_tokens"] == tin
    assert agg["total_output_tokens"] == tout
    assert agg["total_tokens"] == tin + tout
    assert agg["total_duration_ns"] == sum(r["duration"] for r in rows)

    custom = agg["evaluations"]["custom"]
    exact = [bool(r["evaluations"]["exact"]["value"]) for r in rows]
    assert custom["exact"]["metric_type"] == "boolean"
    assert custom["exact"]["true_count"] == sum(exact)
    assert custom["exact"]["count"] == len(exact)
    # The fragile evaluator raised once per run.
    assert custom["fragile"]["error_count"] == 3
    assert custom["judge"]["metric_type"] == "categorical"
    assert custom["judge"]["pass_count"] == sum(
        r["evaluations"]["judge"]["assessment"] == "pass" for r in rows
    )
    assert set(agg["evaluations"]["summary"]) == {"accuracy", "majority"}
    assert agg["evaluations"]["summary"]["accuracy"]["runs"] == {
        str(i): run["summary_evaluations"]["accuracy"]["value"]
        for i, run in enumerate(rec["experiments"][FULL]["runs"], start=1)
    }


def test_a_restart_on_the_same_file_loses_nothing(recorded: dict[str, Any], tmp_path: Path) -> None:
    read = recorded["read"]
    eid = read["by_name"][0]["id"]
    path = f"/api/unstable/llm-obs/v1/experiments/{eid}/events"
    before = httpx.get(recorded["url"] + path).json()
    with BackgroundStore(str(recorded["db"])) as again:
        listed = httpx.get(
            f"{again.url}/api/v2/llm-obs/v1/experiments", params={"filter[id]": eid}
        ).json()["data"]
        after = httpx.get(again.url + path).json()
    assert listed[0]["attributes"]["aggregate_data"] == read["by_name"][0]["aggregate_data"]
    assert after == before


def test_ddtrace_lists_every_one_of_hundreds_of_experiments_whatever_the_filter(
    tmp_path: Path,
) -> None:
    # ddtrace's list_experiments asks for 100 at a time: a filtered answer cut at a page
    # without a cursor would give it the newest 100 and nothing to say that more exist.
    with BackgroundStore(str(tmp_path / "store.db")) as store:
        api = Api(store.url)
        pid = api.project("many-project")
        did = api.dataset(pid, "many")["id"]
        kept, other = [], []
        for i in range(260):
            tags = ["ci.pipeline:many", f"i:{i}"] if i % 13 else ["ci.pipeline:else"]
            eid = api.experiment(pid, did, "many", metadata={"tags": tags})["id"]
            (kept if i % 13 else other).append(eid)
        other.append(api.experiment(pid, did, "unrelated")["id"])
        run_script(
            SCRIPTS / "list_many.py",
            str(tmp_path / "listed.json"),
            "many-project",
            "many",
            "ci.pipeline:many",
            env=ddtrace_env(store.url),
        )
    listed = json.loads((tmp_path / "listed.json").read_text())
    newest_first = kept[::-1]
    assert len(newest_first) == 240
    assert listed["by_tag"] == newest_first
    assert listed["by_both"] == newest_first
    assert sorted(listed["by_name"]) == sorted(kept + other[:-1])
    assert len(listed["by_name"]) == 260
    assert len(listed["all"]) == 261
