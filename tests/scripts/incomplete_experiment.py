"""An unmodified ddtrace script for the completeness tests: a 300-record dataset and two
experiments on it (`baseline` and `candidate`, the same deterministic task, runs=2). Writes
the experiments' ids, the dataset's id and its version to the JSON file named by argv[1]."""

import json
import sys

from ddtrace.llmobs import LLMObs

RECORDS = 300


def task(input_data, config):
    return input_data["a"] + input_data["b"] + (1 if input_data["a"] % 7 == 0 else 0)


def exact(input_data, output_data, expected_output):
    return output_data == expected_output


def main():
    LLMObs.enable(ml_app="complete", project_name="complete", agentless_enabled=True)
    dataset = LLMObs.create_dataset(
        dataset_name="sums-300",
        records=[
            {"input_data": {"a": i, "b": 2 * i}, "expected_output": 3 * i} for i in range(RECORDS)
        ],
    )
    found = {"dataset_id": dataset._id, "dataset_version": dataset._version, "experiments": {}}
    for name in ("baseline", "candidate"):
        experiment = LLMObs.experiment(
            name=name, task=task, dataset=dataset, evaluators=[exact], runs=2
        )
        experiment.run(jobs=20)
        found["experiments"][name] = experiment._id
    LLMObs.flush()
    with open(sys.argv[1], "w") as f:
        json.dump(found, f)


if __name__ == "__main__":
    main()
