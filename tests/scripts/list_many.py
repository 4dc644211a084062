"""Lists experiments through ddtrace's own `LLMObs.list_experiments` (which asks for 100 at a
time and follows `meta.after`) and writes the ids it answered to the JSON file named by
argv[1]. argv[2] is the project, argv[3] the logical experiment name, argv[4] a tag."""

import json
import sys

from ddtrace.llmobs import LLMObs


def ids(found):
    return [summary["id"] for summary in found]


def main(out_path, project, experiment, tag):
    LLMObs.enable(ml_app="store-test", project_name=project, agentless_enabled=True)
    out = {
        "all": ids(LLMObs.list_experiments()),
        "by_name": ids(LLMObs.list_experiments(experiment_name=experiment)),
        "by_tag": ids(LLMObs.list_experiments(metadata_filter={"tags": [tag]})),
        "by_both": ids(
            LLMObs.list_experiments(experiment_name=experiment, metadata_filter={"tags": [tag]})
        ),
    }
    with open(out_path, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main(*sys.argv[1:5])
