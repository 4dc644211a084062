"""A store file written by an older driftgate (schema 1: spans and evaluations kept only as
posted; schema 2: without a task span's usage and evaluations kept rendered) is upgraded when
opened, and answers exactly as before; a newer file is refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import pytest

from driftgate.store.core import SCHEMA_VERSION
from driftgate.store.errors import CannotOpen
from driftgate.store.server import BackgroundStore
from tests.store.schema2 import as_schema_2, spans_answered
from tests.storeapi import UNSTABLE, Api, metric, post_metrics, post_spans, span


def _record(db: str) -> tuple[str, dict[str, bytes]]:
    """An experiment with task spans (one failed, one with an LLM child reporting usage),
    evaluations on two runs and a summary; every events answer the store gives for it."""
    with BackgroundStore(db) as store:
        api = Api(store.url)
        pid = api.project()
        did = api.dataset(pid)["id"]
        api.batch(pid, did, insert_records=[{"id": f"r{i}", "input": {"q": i}} for i in (1, 2)])
        eid = api.experiment(pid, did, run_count=2)["id"]
        child = {
            "span_id": "c1",
            "trace_id": "t-s1",
            "parent_id": "s1",
            "meta": {"span": {"kind": "llm"}},
            "metrics": {"input_tokens": 7, "output_tokens": 2, "estimated_total_cost": 0.1},
            "tags": [f"experiment_id:{eid}"],
        }
        failed = span(eid, "s2", "r2", status="error")
        failed["meta"]["error"] = {"message": "boom", "type": "ValueError"}
        post_spans(api, [span(eid, "s1", "r1"), child, failed, span(eid, "s3", "r1", run=2)])
        post_metrics(
            api,
            eid,
            [
                metric("s1", "ok", "boolean", True),
                metric("s1", "score", "score", 0.25, assessment="pass"),
                metric("s2", "ok", "boolean", None, error={"message": "judge failed"}),
                {**metric("", "total", "score", 3), "metric_source": "summary"},
            ],
        )
        post_metrics(api, eid, [metric("s3", "ok", "boolean", False)], run=2)
        api.patch(eid, status="completed")
        return eid, _answers(store.url, eid)


def _answers(url: str, eid: str) -> dict[str, bytes]:
    with httpx.Client(base_url=url) as http:
        paths = {
            "unstable": (f"{UNSTABLE}/experiments/{eid}/events", {}),
            "v3 first": (f"/api/v2/llm-obs/v3/experiments/{eid}/events", {"page[limit]": "2"}),
        }
        answers = {k: http.get(p, params=q).content for k, (p, q) in paths.items()}
        cursor = httpx.Response(200, content=answers["v3 first"]).json()["meta"]["after"]
        answers["v3 next"] = http.get(
            paths["v3 first"][0], params={"page[limit]": "2", "page[cursor]": cursor}
        ).content
        return answers


def _as_schema_1(db: str) -> None:
    """What driftgate 0.1 left: no answer columns, schema version 1."""
    as_schema_2(db)
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("ALTER TABLE spans DROP COLUMN answer")
        conn.execute("ALTER TABLE spans DROP COLUMN answer_metrics")
        conn.execute("ALTER TABLE metrics DROP COLUMN answer")
        conn.execute("DROP INDEX spans_usage")
        conn.execute("CREATE INDEX spans_by_trace ON spans (experiment_id, trace_id)")
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    conn.close()


def _schema(db: str) -> tuple[str, set[str]]:
    """The file's schema version, and the columns and indexes of its spans."""
    conn = sqlite3.connect(db)
    try:
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
        columns = {r[1] for r in conn.execute("PRAGMA table_info(spans)")}
        columns |= {r[1] for r in conn.execute("PRAGMA index_list(spans)")}
    finally:
        conn.close()
    return version, columns


def test_a_schema_1_file_is_upgraded_and_answers_byte_for_byte_as_before(tmp_path: Path) -> None:
    db = str(tmp_path / "store.db")
    eid, before = _record(db)
    _as_schema_1(db)
    assert _schema(db)[0] == "1"
    assert "answer" not in _schema(db)[1]
    assert "spans_by_trace" in _schema(db)[1]

    with BackgroundStore(db) as store:
        assert _answers(store.url, eid) == before
        # Spans posted after the upgrade are answered with the others.
        api = Api(store.url)
        post_spans(api, [span(eid, "s4", "r2", run=2)])
        spans = api.events(eid)["spans"]
        assert [s["span_id"] for s in spans] == ["s1", "s2", "s3", "s4"]
    version, columns = _schema(db)
    assert version == str(SCHEMA_VERSION)
    assert {"answer", "answer_metrics", "spans_usage"} <= columns
    assert "spans_by_trace" not in columns


def test_a_schema_2_file_is_upgraded_and_answers_byte_for_byte_as_before(tmp_path: Path) -> None:
    db = str(tmp_path / "store.db")
    eid, before = _record(db)
    as_schema_2(db)
    assert _schema(db)[0] == "2"
    assert "answer_usage" not in _schema(db)[1]
    # What schema 2 answered, built at the read from the same rows.
    assert spans_answered(db, eid) in before["unstable"]

    with BackgroundStore(db) as store:
        assert _answers(store.url, eid) == before
        # Spans and evaluations posted after the upgrade are answered with the others.
        api = Api(store.url)
        post_metrics(api, eid, [metric("s4", "ok", "boolean", True)], run=2)
        post_spans(api, [span(eid, "s4", "r2", run=2)])
        spans = api.events(eid)["spans"]
        assert [s["span_id"] for s in spans] == ["s1", "s2", "s3", "s4"]
        assert [m["label"] for m in spans[3]["eval_metrics"]] == ["ok"]
    version, columns = _schema(db)
    assert version == str(SCHEMA_VERSION) == "3"
    assert "answer_usage" in columns


def test_an_upgrade_that_fails_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    db = str(tmp_path / "store.db")
    _record(db)
    _as_schema_1(db)
    conn = sqlite3.connect(db)
    with conn:
        # A stored body that is not JSON: rendering its answer fails halfway through.
        conn.execute("UPDATE metrics SET body = x'7b' WHERE label = 'score'")
    conn.close()
    with pytest.raises(CannotOpen, match=r"cannot upgrade .* from schema 1 .* left as it was"):
        BackgroundStore(db)
    assert _schema(db)[0] == "1"
    assert "answer" not in _schema(db)[1]
    assert "spans_by_trace" in _schema(db)[1]


def test_a_schema_2_upgrade_that_fails_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    db = str(tmp_path / "store.db")
    _record(db)
    as_schema_2(db)
    conn = sqlite3.connect(db)
    with conn:
        # A task span's own metrics that are not JSON: merging its trace's usage fails.
        conn.execute("UPDATE spans SET answer_metrics = x'7b' WHERE span_id = 's1'")
    conn.close()
    with pytest.raises(CannotOpen, match=r"cannot upgrade .* from schema 2 .* left as it was"):
        BackgroundStore(db)
    version, columns = _schema(db)
    assert version == "2"
    assert "answer_usage" not in columns


def test_a_file_of_a_newer_schema_is_refused(tmp_path: Path) -> None:
    db = str(tmp_path / "store.db")
    _record(db)
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(
            "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),)
        )
    conn.close()
    with pytest.raises(CannotOpen, match="written by a newer driftgate"):
        BackgroundStore(db)
