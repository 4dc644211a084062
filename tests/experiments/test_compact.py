"""The compact run format: generated runs survive a round trip; a run read back compares
exactly as the original did; the size budget; the data branch's layout and retention; and
hostile files refused with a `CompactError` that names the line, never anything else."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import zlib
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftgate.compare import compare
from driftgate.config import GateConfig
from driftgate.experiments.compact import (
    IMPORT_KEY,
    MAX_LINE,
    CompactError,
    config_hash,
    decode_run,
    display_text,
    encode_run,
    run_path,
    to_drop,
)
from driftgate.experiments.models import (
    EvaluatorColumn,
    ExperimentData,
    ExperimentInfo,
    SummaryEvaluation,
)
from tests.experiments.runs import assert_same_data, realistic, truncated

NAN = math.nan

# -------------------------------------------------------------------------- generated runs

texts = st.text(max_size=400)
short = st.text(min_size=1, max_size=30)
floats = st.one_of(
    st.just(NAN),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(-(2**53), 2**53).map(float),
)


@st.composite
def column_for(draw: st.DrawFn, label: str, rows: int) -> EvaluatorColumn:
    """A column as the client builds one: a boolean's values are 0/1, a categorical's are
    categories, a json's only its assessment; an errored row has nothing else."""
    kind = draw(st.sampled_from(["boolean", "score", "categorical", "json"]))
    errored = np.array(draw(st.lists(st.booleans(), min_size=rows, max_size=rows)), dtype=bool)
    value = np.full(rows, NAN)
    passed = np.full(rows, NAN)
    category: list[str | None] | None = [None] * rows if kind == "categorical" else None
    for row in range(rows):
        if errored[row]:
            continue
        present = draw(st.booleans())
        if kind == "boolean" and present:
            value[row] = float(draw(st.booleans()))
        elif kind == "score" and present:
            value[row] = draw(floats)
        elif kind == "categorical" and present:
            assert category is not None
            category[row] = draw(texts)
        if present or kind == "json":
            passed[row] = draw(st.sampled_from([NAN, 0.0, 1.0]))
    return EvaluatorColumn(
        label=label,
        metric_type=kind,
        value=value,
        passed=passed,
        errored=errored,
        category=category,
        error_messages=tuple(draw(st.lists(texts, max_size=5))) if errored.any() else (),
    )


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**60), 2**60) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def experiment_data(draw: st.DrawFn) -> ExperimentData:
    keys = draw(st.lists(short, min_size=1, max_size=6, unique=True))
    rows = draw(st.integers(0, 18))
    record_key = [draw(st.sampled_from(keys)) for _ in range(rows)]
    runs = draw(st.lists(st.integers(1, 4), min_size=rows, max_size=rows))
    labels = draw(st.lists(short, max_size=4, unique=True))
    failed = draw(st.lists(st.booleans(), min_size=rows, max_size=rows))

    def numbers() -> np.ndarray:
        return np.array(draw(st.lists(floats, min_size=rows, max_size=rows)), dtype=np.float64)

    # What belongs to a record is the same in each of its rows, as the client reads it.
    inputs = {k: draw(texts) for k in keys}
    expected = {k: draw(texts) for k in keys}
    tags = {k: tuple(draw(st.lists(st.text(max_size=30), max_size=4))) for k in keys}
    info = ExperimentInfo(
        id=draw(short),
        name=draw(st.text(max_size=30)),
        experiment=draw(st.text(max_size=30)),
        dataset_id=draw(st.text(max_size=20)),
        dataset_version=draw(st.none() | st.integers(0, 100)),
        config=draw(st.dictionaries(st.text(max_size=10), json_values, max_size=4)),
        metadata={"tags": draw(st.lists(st.text(max_size=30), max_size=4))},
        run_count=draw(st.none() | st.integers(1, 5)),
        status=draw(st.sampled_from([None, "completed", "failed"])),
        created_at=draw(st.none() | st.just("2026-01-02T03:04:05.000001Z")),
    )
    summary_values = {
        "score": st.floats(allow_nan=False, allow_infinity=False),
        "boolean": st.booleans(),
        "categorical": st.text(max_size=20),
        "json": json_values,
    }
    summaries = []
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(sorted(summary_values)))
        summaries.append(
            SummaryEvaluation(
                label=draw(short),
                run=draw(st.none() | st.integers(1, 4)),
                metric_type=kind,  # type: ignore[arg-type]
                value=draw(st.none() | summary_values[kind]),
                error=draw(st.none() | st.text(max_size=40)),
            )
        )
    return ExperimentData(
        info=info,
        run=draw(st.none() | st.integers(1, 4)),
        record_key=record_key,
        run_iteration=np.array(runs, dtype=np.int32),
        task_error=np.array(failed, dtype=bool),
        error_message=[draw(st.none() | texts) if f else None for f in failed],
        duration_ns=numbers(),
        input_tokens=numbers(),
        output_tokens=numbers(),
        total_tokens=numbers(),
        cost=numbers(),
        input_text=[inputs[k] for k in record_key],
        expected_text=[expected[k] for k in record_key],
        output_text=[draw(texts) for _ in range(rows)],
        evaluators={label: draw(column_for(label, rows)) for label in labels},
        summaries=summaries,
        notes=tuple(draw(st.lists(st.text(max_size=40), max_size=2))),
        dataset_records=draw(st.none() | st.integers(0, 10**6)),
        record_tags=[tags[k] for k in record_key] if draw(st.booleans()) else None,
    )


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(experiment_data())
def test_a_generated_run_survives_the_round_trip(data: ExperimentData) -> None:
    blob = encode_run(data.info, data)
    run = decode_run(blob)
    assert_same_data(run.data, truncated(data))
    assert run.info == data.info.model_copy(update={"aggregate_data": None})
    assert encode_run(run.info, run.data) == blob  # what was read back writes the same bytes
    assert blob.decode("utf-8").count("\n") == data.rows + 1


def test_nan_missing_values_unicode_and_categories_by_hand() -> None:
    data = realistic(4, runs=2)
    data.evaluators["similarity"].value[1] = NAN
    data.evaluators["similarity"].value[2] = math.inf
    data.evaluators["judge"].category[0] = 'très bien 👍 "quoted"\n'  # type: ignore[index]
    data.total_tokens[3] = NAN
    data.cost[:] = NAN
    data.output_text[5] = "نعم\u0000 ok"
    run = decode_run(encode_run(data.info, data))
    assert_same_data(run.data, truncated(data))
    assert run.data.evaluators["similarity"].value[2] == math.inf
    assert run.data.output_text[5] == "نعم\u0000 ok"


def test_texts_are_kept_as_the_report_shows_them() -> None:
    data = realistic(3, runs=1, output_chars=500)
    data.input_text[0] = "  a\n\n  question   " + "é" * 400
    run = decode_run(encode_run(data.info, data))
    assert run.data.input_text[0] == display_text(data.input_text[0])
    assert run.data.input_text[0].startswith("a question éé")
    assert len(run.data.input_text[0]) == 200 and run.data.input_text[0].endswith("…")
    assert all(len(t) <= 200 for t in run.data.output_text)


def test_the_header_says_what_history_is_searched_by() -> None:
    data = realistic(5)
    header = orjson.loads(encode_run(data.info, data).split(b"\n", 1)[0])
    assert header["format"] == "driftgate-run" and header["version"] == 1
    assert header["pipeline"] == "capitals"
    assert header["branch"] == "main"
    assert header["commit"] == "4b76c16a753941c6975c55a21f8935bc00112233"
    assert header["project"] == "capitals-project"
    assert header["dataset"] == {
        "id": "80569d98-70f4-4591-965e-3ea3f452cbe4",
        "name": "capitals-of-the-world",
        "version": 3,
        "records": 5,
    }
    assert header["config_hash"] == config_hash({"temperature": 0.2, "model_name": "atlas-small"})
    assert header["runs"] == [1, 2, 3] and header["rows"] == 15 and header["records"] == 5
    assert [(e["label"], e["type"]) for e in header["evaluators"]] == [
        ("exact_match", "boolean"),
        ("judge", "categorical"),
        ("similarity", "score"),
    ]
    given = orjson.loads(
        encode_run(data.info, data, pipeline="p", commit="abc", branch="b").split(b"\n", 1)[0]
    )
    assert (given["pipeline"], given["commit"], given["branch"]) == ("p", "abc", "b")


def test_config_hash_is_short_and_stable() -> None:
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})
    assert config_hash(None) == config_hash({})
    assert len(config_hash({})) == 12


def test_an_imported_run_keeps_its_origin() -> None:
    data = realistic(2)
    info = data.info.model_copy(
        update={
            "id": "new-id",
            "created_at": "2027-01-01T00:00:00Z",
            "metadata": {
                **(data.info.metadata or {}),
                IMPORT_KEY: {"id": "old-id", "name": "old", "created_at": "2026-03-04T05:06:07Z"},
            },
        }
    )
    run = decode_run(encode_run(info, dataclasses.replace(data, info=info)))
    assert run.origin_id == "old-id"
    assert run.recorded_at == "2026-03-04T05:06:07Z"
    assert run.info.id == "new-id"
    assert run.path == "runs/capitals/20260304T050607Z-4b76c16a7539-old-id.jsonl"


# -------------------------------------------------------------------------- compared as read


def test_a_run_read_back_compares_exactly_as_the_original() -> None:
    base = realistic(60, seed=1, output_chars=300)
    cand = realistic(
        60,
        seed=2,
        skill=0.6,
        experiment_id="9e8d7c6b-5a49-4382-8172-6f5e4d3c2b1a",
        commit="aaaaaaaaaaaa" + "b" * 28,
        output_chars=300,
    )
    cand = dataclasses.replace(cand, record_key=base.record_key)  # the same dataset
    config = GateConfig()
    want = compare(base, cand, config, baseline_reason="test").model_dump(mode="json")
    base_back = decode_run(encode_run(base.info, base)).data
    cand_back = decode_run(encode_run(cand.info, cand)).data
    got = compare(base_back, cand_back, config, baseline_reason="test").model_dump(mode="json")
    assert got == want
    # Not vacuous: the candidate regressed, and flipped records show their texts.
    assert want["verdict"] == "fail"
    assert want["records"]["flipped"]


# -------------------------------------------------------------------------- size


def test_a_record_run_is_under_a_kilobyte_on_realistic_data() -> None:
    # 3 evaluators, verbose outputs (truncated), two tags a record, 3 runs: the budget.
    data = realistic(200, runs=3, output_chars=400)
    blob = encode_run(data.info, data)
    per_row = len(blob) / data.rows
    assert per_row <= 1024, per_row
    # A single run pays the record's input and expected output on its only row.
    single = realistic(200, runs=1, output_chars=400)
    assert len(encode_run(single.info, single)) / single.rows <= 1024
    # And git's zlib makes it much smaller (repetitive keys, evaluator names are not).
    assert len(zlib.compress(blob)) < len(blob) / 3


# -------------------------------------------------------------------------- layout, retention


def test_run_path_is_the_data_branch_layout() -> None:
    assert (
        run_path("capitals", "2026-03-04T05:06:07.123456Z", "4B76C16A753941C6", "e-1")
        == "runs/capitals/20260304T050607Z-4b76c16a7539-e-1.jsonl"
    )
    assert run_path("p", "2026-03-04T07:06:07+02:00", None, "x") == (
        "runs/p/20260304T050607Z-nocommit-x.jsonl"
    )
    assert run_path(None, None, "zz", "") == "runs/unnamed/00000000T000000Z-nocommit-noid.jsonl"


@pytest.mark.parametrize(
    ("pipeline", "experiment_id"),
    [
        ("../../etc", "../../passwd"),
        ("/abs", "a/b\\c"),
        ("..", "."),
        ("a b\nc", "id\x00"),
        ("x" * 300, "y" * 300),
        ("été", "ид"),
    ],
)
def test_run_path_never_leaves_its_folder(pipeline: str, experiment_id: str) -> None:
    path = run_path(pipeline, "not a date", "not hex", experiment_id)
    parts = path.split("/")
    assert len(parts) == 3 and parts[0] == "runs"
    assert parts[1] not in ("", ".", "..") and parts[1][0].isalnum()
    assert all(c.isascii() and (c.isalnum() or c in "_.-") for c in parts[1] + parts[2])
    assert to_drop([path], 0) == [path]  # and retention recognises it


def test_retention_keeps_the_newest_per_pipeline() -> None:
    a = [run_path("a", f"2026-01-0{d}T00:00:00Z", "abc", f"a{d}") for d in range(1, 6)]
    b = [run_path("b", f"2026-02-0{d}T00:00:00Z", "abc", f"b{d}") for d in range(1, 3)]
    others = ["README.md", "runs/a/notes.txt", "runs/../x.jsonl"]
    shuffled = [a[3], b[1], *others, a[0], a[4], b[0], a[2], a[1]]
    assert to_drop(shuffled, 3) == [a[0], a[1]]
    assert to_drop(shuffled, 1) == [a[0], a[1], a[2], a[3], b[0]]
    assert to_drop(shuffled, 10) == []
    assert set(to_drop(shuffled, 0)) == set(a + b)
    with pytest.raises(ValueError, match="keep"):
        to_drop(a, -1)


# -------------------------------------------------------------------------- hostile files


@pytest.fixture(scope="module")
def good() -> bytes:
    data = realistic(3, runs=2)
    return encode_run(data.info, data)


def _refused(blob: bytes, *words: str) -> str:
    with pytest.raises(CompactError) as caught:
        decode_run(blob)
    message = str(caught.value)
    for word in words:
        assert word in message, message
    return message


def _with_line(good: bytes, number: int, change: dict[str, Any]) -> bytes:
    lines = good.split(b"\n")
    line = orjson.loads(lines[number - 1])
    line.update(change)
    lines[number - 1] = orjson.dumps({k: v for k, v in line.items() if v is not ...})
    return b"\n".join(lines)


def test_garbage_is_refused(good: bytes) -> None:
    _refused(b"", "empty")
    _refused(b"hello\n", "line 1", "not JSON")
    _refused(b"[1,2]\n", "line 1", "not a JSON object")
    _refused(b'{"format":"something-else","version":1}\n', "not a driftgate run file")
    _refused(b"\xff\xfe{}\n", "line 1", "not JSON")
    # Line ends git may have turned into CRLF are JSON whitespace: read as they were.
    assert decode_run(good.replace(b"\n", b"\r\n")).data.rows == decode_run(good).data.rows


def test_another_version_is_refused_by_name(good: bytes) -> None:
    message = _refused(_with_line(good, 1, {"version": 2}), "version 2", "upgrade driftgate")
    assert "line 1" in message


def test_a_cut_file_is_refused(good: bytes) -> None:
    for cut in range(1, len(good) - 1):
        _refused(good[:cut])
    lines = good.split(b"\n")
    _refused(b"\n".join([*lines[:-2], b""]), "the header says 6 rows and the file has 5")
    _refused(good + lines[1] + b"\n", "line 8", "more rows")


def test_long_lines_are_refused_before_they_are_read(good: bytes) -> None:
    lines = good.split(b"\n")
    long = b'{"k":"' + b"a" * MAX_LINE + b'","i":1}'
    _refused(b"\n".join([lines[0], long, *lines[2:]]), "line 2", "bytes long")


@pytest.mark.parametrize(
    ("line", "change", "words"),
    [
        (2, {"k": 7}, ("line 2", "'k'")),
        (2, {"k": ""}, ("line 2", "'k'")),
        (2, {"i": "1"}, ("line 2", "'i'")),
        (2, {"i": ...}, ("line 2", "'i'")),
        (2, {"i": 2**40}, ("line 2", "'i'")),
        (2, {"v": [1, 2]}, ("line 2", "'v'", "3 values")),
        (2, {"v": [True, None, None]}, ("line 2", "'v'[0]", "number")),
        (2, {"v": [{"a": 1}, None, None]}, ("line 2", "'v'[0]")),
        (2, {"v": ["cat", None, None]}, ("line 2", "'exact_match' has none")),
        (2, {"v": [None, [1, 2, 3], None]}, ("line 2", "'v'[1]")),
        (2, {"a": "ppx"}, ("line 2", "'a'")),
        (2, {"x": [3]}, ("line 2", "'x'")),
        (2, {"x": [True]}, ("line 2", "'x'")),
        (2, {"t": 2}, ("line 2", "'t'")),
        (2, {"t": True}, ("line 2", "'t'")),
        (2, {"n": [1, 2]}, ("line 2", "'n'")),
        (2, {"d": "soon"}, ("line 2", "'d'")),
        (2, {"c": [1]}, ("line 2", "'c'")),
        (2, {"out": 3}, ("line 2", "'out'")),
        (2, {"out": "o" * 201}, ("line 2", "'out'", "at most 200")),
        (2, {"g": "difficulty:hard"}, ("line 2", "'g'")),
        (2, {"g": [1]}, ("line 2", "'g'")),
        (1, {"rows": -1}, ("line 1", "'rows'")),
        (1, {"rows": ...}, ("line 1", "'rows' is missing")),
        (1, {"info": []}, ("line 1", "'info'")),
        (1, {"info": {"id": 3}}, ("line 1", "info.id")),
        (1, {"evaluators": {}}, ("line 1", "'evaluators'")),
        (1, {"evaluators": [{"label": "a", "type": "vibes"}]}, ("line 1", "'type'")),
        (1, {"evaluators": [{"label": "", "type": "score"}]}, ("line 1", "'label'")),
        (1, {"summaries": [{"label": "s", "type": "score", "run": "1"}]}, ("line 1", "'run'")),
        (1, {"dataset": {"records": 1.5}}, ("line 1", "'records'")),
        (1, {"record_tags": "yes"}, ("line 1", "'record_tags'")),
        (1, {"notes": [1]}, ("line 1", "'notes'")),
    ],
)
def test_every_field_is_checked(
    good: bytes, line: int, change: dict[str, Any], words: tuple[str, ...]
) -> None:
    _refused(_with_line(good, line, change), *words)


def test_tags_in_a_file_without_tags_are_refused(good: bytes) -> None:
    _refused(_with_line(good, 1, {"record_tags": False}), "line 2", "'g'")


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_random_bytes_are_refused_or_read(blob: bytes) -> None:
    with contextlib.suppress(CompactError):
        decode_run(blob)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_damaged_file_is_refused_or_read_never_crashes(good: bytes, data: st.DataObject) -> None:
    position = data.draw(st.integers(0, len(good) - 1))
    byte = data.draw(st.integers(0, 255))
    damaged = good[:position] + bytes([byte]) + good[position + 1 :]
    with contextlib.suppress(CompactError):
        decode_run(damaged)
