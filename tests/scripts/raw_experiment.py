"""Records one experiment straight through the experiments HTTP API (as a non-ddtrace client
would), fast enough for tens of thousands of records. Tuned by the environment:

RAW_RECORDS (default 40), RAW_BAD (records whose answer is wrong: the first N; default 4),
RAW_LABEL (the boolean evaluator's label; default "correct"), RAW_OUTPUT (a suffix put on
every wrong answer; default none), RAW_NAME (experiment name; default "raw"),
RAW_DRIFTGATE_TAGS (set: also the DRIFTGATE_TAGS driftgate gives, such as `git.branch`, as a
ddtrace script passing them as `tags=` records them).
Prints the experiment's URL the way ddtrace's `experiment.url` looks.
"""

import json
import os

import httpx

origin = os.environ["DD_LLMOBS_OVERRIDE_ORIGIN"]
records = int(os.environ.get("RAW_RECORDS", "40"))
bad = int(os.environ.get("RAW_BAD", "4"))
label = os.environ.get("RAW_LABEL", "correct")
suffix = os.environ.get("RAW_OUTPUT", "")
name = os.environ.get("RAW_NAME", "raw")
commit = os.environ.get("DD_GIT_COMMIT_SHA", "")
tags = [f"git.commit.sha:{commit}"] if commit else []
if os.environ.get("RAW_DRIFTGATE_TAGS"):
    tags += [f"{k}:{v}" for k, v in json.loads(os.environ.get("DRIFTGATE_TAGS", "{}")).items()]

http = httpx.Client(base_url=origin, timeout=120)


def post(path: str, attributes: dict) -> dict:
    resp = http.post(path, json={"data": {"type": "x", "attributes": attributes}})
    resp.raise_for_status()
    return resp.json() if resp.content else {}


project = post("/api/unstable/llm-obs/v1/projects", {"name": "raw-project"})["data"]["id"]
dataset = post(f"/api/unstable/llm-obs/v1/{project}/datasets", {"name": "raw-dataset"})["data"][
    "id"
]
post(
    f"/api/v2/llm-obs/v1/{project}/datasets/{dataset}/batch_update",
    {
        "insert_records": [
            {"id": f"rec-{i}", "input": {"n": i}, "expected_output": str(i)} for i in range(records)
        ]
    },
)
experiment = post(
    "/api/unstable/llm-obs/v1/experiments",
    {
        "name": name,
        "project_id": project,
        "dataset_id": dataset,
        "metadata": {"tags": tags},
        "ensure_unique": True,
    },
)["data"]["id"]
spans, metrics = [], []
for i in range(records):
    wrong = i < bad
    sid = f"{i + 1}"
    spans.append(
        {
            "span_id": sid,
            "trace_id": f"t{sid}",
            "parent_id": "undefined",
            "name": "task",
            "start_ns": 1_700_000_000_000_000_000 + i,
            "duration": 1_000_000,
            "status": "ok",
            "meta": {
                "span": {"kind": "experiment"},
                "input": {"n": i},
                "output": (f"{i}?{suffix}" if wrong else str(i)),
                "expected_output": str(i),
            },
            "metrics": {"input_tokens": 10, "output_tokens": 2, "total_tokens": 12},
            "tags": [
                f"experiment_id:{experiment}",
                f"dataset_record_id:rec-{i}",
                "run_iteration:1",
            ],
        }
    )
    metrics.append(
        {
            "metric_source": "custom",
            "span_id": sid,
            "timestamp_ms": 1,
            "metric_type": "boolean",
            "label": label,
            "boolean_value": not wrong,
        }
    )
for start in range(0, records, 5000):
    http.post("/api/v2/llmobs", json=[{"spans": spans[start : start + 5000]}]).raise_for_status()
    post(
        f"/api/unstable/llm-obs/v1/experiments/{experiment}/events",
        {"metrics": metrics[start : start + 5000], "tags": ["run_iteration:1"]},
    )
http.patch(
    f"/api/unstable/llm-obs/v1/experiments/{experiment}",
    json={"data": {"type": "experiments", "attributes": {"status": "completed"}}},
).raise_for_status()
print(f"experiment: https://app.datadoghq.com/llm/experiments/{experiment}", flush=True)
