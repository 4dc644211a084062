"""An unmodified ddtrace experiment script (nothing of driftgate in it) whose dataset records
carry tags, for the end-to-end tests of slices, `--where` and `driftgate records`.

36 sums, 12 of each difficulty (`difficulty:easy`, `medium`, `hard`: one, two and three
digits). The script creates the dataset, pulls it back whole and pulls its hard records
alone (`LLMObs.pull_dataset(..., tags=["difficulty:hard"])`), and runs one 3-run experiment
on each: "quiz" (every record) and "quiz-hard" (the hard ones).

Everything is deterministic, and a function of the record's index and the run (1-based):
`score`, `sentiment` and `tokens` below are what the evaluators `random_evaluator` and
`sentient_evaluator` return and what the task's LLM span reports, whatever the model, so
that a test can work out which records a query matches without driftgate. ddtrace runs an
experiment's runs one after the other, so the n-th call of the task on a record is run n.

MODEL is what a commit changes (the tests edit it and commit): "calc-1" (the baseline) or
"calc-1-lite", worse on the hard sums only (wrong in some runs of every hard record) and
raising on one of them, every run.
"""

import json
import os
import sys
import threading

from ddtrace.llmobs import LLMObs

MODEL = "calc-1"

DATASET = "tagged-sums"
PER_DIFFICULTY = 12
DIFFICULTIES = ("easy", "medium", "hard")
RUNS = 3
# The hard record calc-1-lite raises on (its index).
RAISES_ON = 31
SENTIMENTS = ("positive", "negative", "neutral")


def operands(index):
    """The sum of record `index`: one digit for easy, two for medium, three for hard."""
    level = index // PER_DIFFICULTY
    base = (1, 10, 100)[level]
    return base + (index * 7) % (9 * base), base + (index * 5) % (9 * base)


def difficulty(index):
    return DIFFICULTIES[index // PER_DIFFICULTY]


def score(index, run):
    """random_evaluator's value: k/10 + 0.05, so that an average over 3 runs is never 0.5."""
    return round(((index * 7 + run * 3) % 10) / 10 + 0.05, 2)


def sentiment(index, run):
    """sentient_evaluator's value."""
    return SENTIMENTS[(index * run + index // 3) % 3]


def tokens(index, run):
    """The LLM span's (input, output) tokens; their total is odd, so that no average over 3
    runs is exactly 1000."""
    total = 2 * ((index * 53 + run * 211) % 350) + 701
    return 40 + index, total - 40 - index


def wrong(index, run):
    """Whether MODEL gets record `index` wrong in `run`."""
    if index == 5 and run == 2:  # one slip of both models, on an easy sum
        return True
    if MODEL == "calc-1-lite" and difficulty(index) == "hard":
        return index % 2 == 0 or run != 2
    return False


_calls = {}
_lock = threading.Lock()


def _run_of(index):
    with _lock:
        return _calls.get(index, 0)


def task(input_data, config):
    index = input_data["index"]
    with _lock:
        _calls[index] = _calls.get(index, 0) + 1
        run = _calls[index]
    if MODEL == "calc-1-lite" and index == RAISES_ON:
        raise ValueError(f"calc-1-lite overflowed on {input_data['question']}")
    a, b = operands(index)
    answer = str(a + b + (10 if wrong(index, run) else 0))
    with LLMObs.llm(model_name=MODEL, model_provider="simulated", name="add") as span:
        tin, tout = tokens(index, run)
        LLMObs.annotate(
            span=span,
            input_data=input_data["question"],
            output_data=answer,
            metrics={"input_tokens": tin, "output_tokens": tout, "total_tokens": tin + tout},
        )
    return answer


def correct(input_data, output_data, expected_output):
    return output_data == expected_output


def random_evaluator(input_data, output_data, expected_output):
    index = input_data["index"]
    return score(index, _run_of(index))


def sentient_evaluator(input_data, output_data, expected_output):
    index = input_data["index"]
    return sentiment(index, _run_of(index))


def records():
    out = []
    for index in range(PER_DIFFICULTY * len(DIFFICULTIES)):
        a, b = operands(index)
        out.append(
            {
                "input_data": {"question": f"{a} + {b}", "index": index},
                "expected_output": str(a + b),
                "tags": [f"difficulty:{difficulty(index)}"],
            }
        )
    return out


def run_experiment(name, dataset):
    _calls.clear()
    experiment = LLMObs.experiment(
        name=name,
        task=task,
        dataset=dataset,
        evaluators=[correct, random_evaluator, sentient_evaluator],
        config={"model": MODEL},
        tags=json.loads(os.environ.get("DRIFTGATE_TAGS") or "{}"),
        runs=RUNS,
    )
    experiment.run(jobs=4)
    print(f"experiment {name}: {experiment.url}", flush=True)


def main():
    LLMObs.enable(ml_app="tagged", project_name="tagged", agentless_enabled=True)
    LLMObs.create_dataset(dataset_name=DATASET, records=records())
    whole = LLMObs.pull_dataset(DATASET)
    hard = LLMObs.pull_dataset(DATASET, tags=["difficulty:hard"])
    if len(whole) != PER_DIFFICULTY * len(DIFFICULTIES) or len(hard) != PER_DIFFICULTY:
        sys.exit(f"pulled {len(whole)} records, {len(hard)} of them hard")
    run_experiment("quiz", whole)
    run_experiment("quiz-hard", hard)
    LLMObs.flush()


if __name__ == "__main__":
    main()
