"""Reads experiments back through ddtrace's own readers and writes what they answered to the
JSON file named by argv[1]. argv[2:] are experiment ids to pull."""

import json
import sys

from ddtrace.llmobs import LLMObs


def main(out_path, ids):
    LLMObs.enable(ml_app="store-test", project_name="store-test-project", agentless_enabled=True)
    out = {
        "by_name": LLMObs.list_experiments(experiment_name="store-full"),
        "by_tag": LLMObs.list_experiments(metadata_filter={"tags": ["ci.pipeline:store-test"]}),
        "by_missing_tag": LLMObs.list_experiments(metadata_filter={"tags": ["ci.pipeline:other"]}),
        "pulled": {},
    }
    for experiment_id in ids:
        pulled = LLMObs.pull_experiment(experiment_id)
        out["pulled"][experiment_id] = {"name": pulled.name, "result": pulled.result}
    with open(out_path, "w") as f:
        json.dump(out, f, default=str)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
