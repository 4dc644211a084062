"""An unmodified ddtrace experiment script (nothing of driftgate in it) for the end-to-end
tests of `driftgate run`. A "model" does arithmetic; it is deterministic, so two runs of the
same code record the same outputs and evaluations.

The constants below are what a commit changes; the tests edit them and commit, as a real
change would:
- MODEL: "calc-1" (the baseline), "calc-1-lite" (worse at sums, the same at products),
  "calc-2" (better at sums).
- EXPERIMENTS: which experiments this script records (each its own dataset).
- PRINT_URL: print `experiment.url` (driftgate then finds the experiment by it) or not
  (driftgate then finds it by the commit ddtrace tags from DD_GIT_COMMIT_SHA).
- PREFIX: put before each experiment's name ("arith-" records "arith-sums").
- PASS_TAGS: pass DRIFTGATE_TAGS as ddtrace's `tags=` (as the README suggests), or not (a
  script written without driftgate in mind).
- PER_RUN_NAME: name the experiment DRIFTGATE_EXPERIMENT_NAME (`<pipeline>-<run-id>`), as
  scripts that name each run do, instead of its fixed name.
- MODE: "record"; "crash" (exits with a traceback after some output); "hang" (starts a
  helper process, writes both pids to hang-pids.json and never finishes).

Whatever driftgate put into the environment is written to seen-env.json, so that the tests
can check what reached the script.
"""

import json
import os
import subprocess
import sys
import time

from ddtrace.llmobs import LLMObs

MODEL = "calc-1"
EXPERIMENTS = ("sums",)
PRINT_URL = True
PREFIX = ""
PASS_TAGS = True
PER_RUN_NAME = False
MODE = "record"

RECORDS = 40
# Every answer takes this long, like a model call would: latency is then the same from run
# to run, and the gate's latency budgets see the truth (unchanged) rather than noise.
CALL_S = 0.05

# Which records (by index) each model gets wrong, per experiment.
MISTAKES = {
    "calc-1": {"sums": lambda i: i % 10 == 3, "products": lambda i: i % 8 == 5},
    "calc-1-lite": {"sums": lambda i: i % 10 == 3 or i % 3 == 0, "products": lambda i: i % 8 == 5},
    "calc-2": {"sums": lambda i: False, "products": lambda i: i % 8 == 5},
}
OPERATIONS = {"sums": lambda a, b: a + b, "products": lambda a, b: a * b}


def seen_env():
    keys = (
        "DD_GIT_COMMIT_SHA",
        "DRIFTGATE_PIPELINE",
        "DRIFTGATE_EXPERIMENT_NAME",
        "DRIFTGATE_METADATA",
        "DRIFTGATE_TAGS",
        "DD_LLMOBS_OVERRIDE_ORIGIN",
    )
    with open("seen-env.json", "w") as f:
        json.dump({k: os.environ.get(k) for k in keys}, f)


def hang():
    helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    with open("hang-pids.json", "w") as f:
        json.dump({"script": os.getpid(), "helper": helper.pid}, f)
    print("waiting for the model endpoint...", flush=True)
    time.sleep(600)


def make_task(experiment):
    operation = OPERATIONS[experiment]
    wrong = MISTAKES[MODEL][experiment]

    def task(input_data, config):
        time.sleep(CALL_S)
        a, b, index = input_data["a"], input_data["b"], input_data["index"]
        answer = operation(a, b)
        return answer + 1 if wrong(index) else answer

    return task


def exact(input_data, output_data, expected_output):
    return output_data == expected_output


def closeness(input_data, output_data, expected_output):
    return round(1 / (1 + abs(output_data - expected_output)), 4)


def record(experiment):
    operation = OPERATIONS[experiment]
    records = [
        {
            "input_data": {"a": 3 + i, "b": 7 + 2 * i, "index": i},
            "expected_output": operation(3 + i, 7 + 2 * i),
        }
        for i in range(RECORDS)
    ]
    dataset = LLMObs.create_dataset(dataset_name=f"arith-{experiment}", records=records)
    name = os.environ["DRIFTGATE_EXPERIMENT_NAME"] if PER_RUN_NAME else PREFIX + experiment
    run = LLMObs.experiment(
        name=name,
        task=make_task(experiment),
        dataset=dataset,
        evaluators=[exact, closeness],
        config={"model": MODEL},
        tags=json.loads(os.environ.get("DRIFTGATE_TAGS") or "{}") if PASS_TAGS else {},
        runs=1,
    )
    run.run(jobs=10)
    if PRINT_URL:
        print(f"experiment {experiment}: {run.url}", flush=True)


def main():
    seen_env()
    if MODE == "hang":
        hang()
    LLMObs.enable(ml_app="arith", project_name="arith", agentless_enabled=True)
    if MODE == "crash":
        print("calling the model endpoint...", flush=True)
        raise ConnectionError("model endpoint refused the connection (simulated)")
    for experiment in EXPERIMENTS:
        record(experiment)
    LLMObs.flush()


if __name__ == "__main__":
    main()
