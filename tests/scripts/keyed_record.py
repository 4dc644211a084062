"""An unmodified ddtrace script for the store's key and cross-site checks: a dataset uploaded
from CSV (ddtrace's multipart upload), one experiment with an evaluator, its spans and
metrics; writes the ids it got to the JSON file named by its argument."""

import csv
import json
import sys
import tempfile

from ddtrace.llmobs import LLMObs


def exact(input_data, output_data, expected_output):
    # A CSV dataset's expected output is an object of its expected-output columns.
    return output_data == expected_output["answer"]


def main(out_path):
    LLMObs.enable(ml_app="keyed", project_name="keyed-project", agentless_enabled=True)
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False, newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["question", "answer"])
        writer.writerows([["1+1", "2"], ["2+2", "4"], ["3+3", "7"]])
    dataset = LLMObs.create_dataset_from_csv(
        f.name, "keyed-csv", input_data_columns=["question"], expected_output_columns=["answer"]
    )
    experiment = LLMObs.experiment(
        name="keyed",
        task=lambda input_data, config: str(eval(input_data["question"])),
        dataset=dataset,
        evaluators=[exact],
    )
    experiment.run()
    LLMObs.flush()
    with open(out_path, "w") as out:
        json.dump({"dataset_id": dataset._id, "experiment_id": experiment._id}, out)


if __name__ == "__main__":
    main(sys.argv[1])
