"""Bytes per record-run of the compact run format (experiments/compact.py), raw and as git
stores them (zlib, git's default level, over the blob object), against the budget of 1 KB.

    uv run python benchmarks/compact_size.py                 # both datasets below
    uv run python benchmarks/compact_size.py --no-capitals   # the synthetic one only

Two runs are measured:
- capitals: the bundled example (examples/capitals: 19 records x 3 runs, a boolean, a score,
  a categorical judge with an assessment and a json evaluator, a summary evaluator), recorded
  by ddtrace into the embedded store and read back by the gate's client, as a history
  writer would read it;
- synthetic: 1,000 records x 3 runs x 3 evaluators (a boolean, a score, a categorical judge
  with an assessment), JSON inputs of about 120 characters, answers of varied length (a
  quarter longer than the 200 characters kept), two dataset tags a record, 2% task errors.

Also timed: encoding and decoding (median of 5). Writes benchmarks/results/compact_size.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

from driftgate.experiments.compact import decode_run, encode_run
from driftgate.experiments.models import (
    EvaluatorColumn,
    ExperimentData,
    ExperimentInfo,
    SummaryEvaluation,
)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results" / "compact_size.json"
BUDGET = 1024


def synthetic(records: int = 1000, runs: int = 3, seed: int = 0) -> ExperimentData:
    rng = np.random.default_rng(seed)
    n = records * runs
    record = np.tile(np.arange(records), runs)
    run = np.repeat(np.arange(1, runs + 1), records).astype(np.int32)
    keys = [f"{int(k):032x}" for k in rng.integers(0, 2**62, records)]
    error = rng.random(n) < 0.02
    right = (rng.random(n) < 0.75) & ~error
    # Answers: mostly a sentence, a quarter of them long explanations (cut at 200).
    lengths = np.where(rng.random(n) < 0.25, rng.integers(200, 1200, n), rng.integers(5, 120, n))
    words = [
        "the",
        "capital",
        "city",
        "of",
        "this",
        "country",
        "is",
        "located",
        "in",
        "the",
        "north",
        "and",
        "is",
        "known",
        "for",
    ]
    answers = [
        "" if e else " ".join(words[(r + i) % len(words)] for i in range(int(length) // 5))
        for r, length, e in zip(record, lengths, error, strict=True)
    ]
    difficulty = ["easy", "medium", "hard"]
    nan = np.full(n, np.nan)
    no = np.zeros(n, dtype=bool)
    prompt = rng.integers(20, 400, records).astype(np.float64)[record]
    answer = np.where(error, np.nan, rng.integers(2, 300, n).astype(np.float64))
    return ExperimentData(
        info=ExperimentInfo(
            id="2f1c7a52-8d4b-4d0e-9c4e-0a1b2c3d4e5f",
            name="support-bot-1795636369471",
            experiment="support-bot",
            project_id="0f802747-221f-4b6a-ae87-d97cc2dca98d",
            dataset_id="80569d98-70f4-4591-965e-3ea3f452cbe4",
            dataset_version=4,
            config={"model_name": "gpt-4o-mini", "temperature": 0.2, "prompt": "v7"},
            metadata={
                "tags": [
                    "git.branch:main",
                    "ci.pipeline:support-bot",
                    "git.commit.sha:4b76c16a753941c6975c55a21f8935bc00112233",
                    "project_name:support",
                    "dataset_name:support-questions",
                ]
            },
            run_count=runs,
            status="completed",
            created_at="2026-03-04T05:06:07.123456Z",
        ),
        run=None,
        record_key=[keys[r] for r in record],
        run_iteration=run,
        task_error=error,
        error_message=[
            "TimeoutError: the model did not answer in 30 s" if e else None for e in error
        ],
        duration_ns=np.round(rng.lognormal(21, 0.5, n)),
        input_tokens=prompt,
        output_tokens=answer,
        total_tokens=prompt + np.nan_to_num(answer),
        cost=np.round((prompt + np.nan_to_num(answer)) * 1.5e-7, 10),
        input_text=[
            f'{{"customer_tier":"{["free", "pro", "enterprise"][r % 3]}","question":"How do I '
            f'reset the password of account number {r} when the email is gone?"}}'
            for r in record
        ],
        expected_text=[f"Use the recovery codes of account {r}." for r in record],
        output_text=answers,
        evaluators={
            "exact_match": EvaluatorColumn(
                "exact_match", "boolean", np.where(error, np.nan, right * 1.0), nan, no
            ),
            "similarity": EvaluatorColumn(
                "similarity", "score", np.where(error, np.nan, rng.beta(5, 2, n)), nan, no
            ),
            "judge": EvaluatorColumn(
                "judge",
                "categorical",
                nan,
                np.where(error, np.nan, right * 1.0),
                no,
                category=[
                    None if e else ("correct" if ok else "incorrect")
                    for ok, e in zip(right, error, strict=True)
                ],
            ),
        },
        summaries=[SummaryEvaluation("accuracy", r, "score", 0.75) for r in range(1, runs + 1)],
        dataset_records=records,
        record_tags=[(f"difficulty:{difficulty[r % 3]}", f"tier:{r % 3}") for r in record],
    )


def capitals() -> ExperimentData:
    """The bundled example, recorded by ddtrace into a store and read back by the client."""
    from driftgate.experiments.backend import backend_from_env
    from driftgate.experiments.client import ExperimentsClient
    from driftgate.store.clients import client_env
    from driftgate.store.server import BackgroundStore

    with tempfile.TemporaryDirectory() as tmp, BackgroundStore(str(Path(tmp) / "s.db")) as store:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("DD_", "DRIFTGATE_"))}
        env = client_env(store.url, base)
        env["DRIFTGATE_TAGS"] = json.dumps(
            {"git.branch": "main", "ci.pipeline": "capitals", "git.commit.sha": "ab" * 20}
        )
        script = ROOT / "examples" / "capitals" / "experiment.py"
        subprocess.run([sys.executable, str(script)], env=env, check=True, capture_output=True)
        with ExperimentsClient(backend_from_env({"DD_LLMOBS_OVERRIDE_ORIGIN": store.url})) as c:
            [info] = c.list_experiments(limit=1)
            return c.experiment_data(info.id)


def git_blob_zlib(blob: bytes) -> int:
    """The size git stores a loose object of `blob` in (zlib at git's default level)."""
    return len(zlib.compress(b"blob %d\0" % len(blob) + blob, zlib.Z_DEFAULT_COMPRESSION))


def measure(name: str, data: ExperimentData, repeat: int) -> dict[str, float | int | str]:
    blob = encode_run(data.info, data)
    encode = statistics.median(_time(lambda: encode_run(data.info, data)) for _ in range(repeat))
    decode = statistics.median(_time(lambda: decode_run(blob)) for _ in range(repeat))
    rows = data.rows
    return {
        "run": name,
        "records": len(set(data.record_key)),
        "runs": len(set(data.run_iteration.tolist())),
        "evaluators": len(data.evaluators),
        "rows": rows,
        "bytes": len(blob),
        "bytes_per_record_run": round(len(blob) / rows, 1),
        "git_zlib_bytes": git_blob_zlib(blob),
        "git_zlib_per_record_run": round(git_blob_zlib(blob) / rows, 1),
        "encode_s": round(encode, 4),
        "decode_s": round(decode, 4),
    }


def _time(call: object) -> float:
    start = time.perf_counter()
    call()  # type: ignore[operator]
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-capitals", action="store_true", help="skip the ddtrace example")
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    results = []
    if not args.no_capitals:
        results.append(measure("capitals (ddtrace, read back)", capitals(), args.repeat))
    results.append(measure("synthetic", synthetic(args.records), args.repeat))
    print(
        f"{'run':32} {'rows':>6} {'bytes/row':>10} {'git zlib/row':>13} {'encode':>8} {'decode':>8}"
    )
    for r in results:
        print(
            f"{r['run']:32} {r['rows']:>6} {r['bytes_per_record_run']:>10} "
            f"{r['git_zlib_per_record_run']:>13} {r['encode_s']:>7}s {r['decode_s']:>7}s"
        )
    over = [r["run"] for r in results if float(r["bytes_per_record_run"]) > BUDGET]
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"budget": BUDGET, "results": results}, indent=2) + "\n")
    if over:
        sys.exit(f"over the budget of {BUDGET} bytes per record-run: {', '.join(over)}")


if __name__ == "__main__":
    main()
