"""An unmodified ddtrace experiment script (nothing of driftgate in it) that records two
experiments and writes what ddtrace itself says it recorded to the JSON file named by argv[1].

- "store-full": a dataset with tags, runs=3, a task that raises on one record, an LLM child
  span with token metrics, boolean / score / categorical / EvaluatorResult / json evaluators,
  an evaluator that raises on one record, and two summary evaluators.
- "store-clean": the same without errors, so that ddtrace marks it completed.
"""

import json
import sys

from ddtrace.llmobs import EvaluatorResult, LLMObs

CAPITALS = {
    "France": "Paris",
    "Japan": "Tokyo",
    "Peru": "Lima",
    "Chile": "Santiago",
    "Iraq": "Baghdad",
}
TOKENS = {"France": (11, 2), "Japan": (12, 3), "Peru": (13, 4), "Chile": (14, 5), "Iraq": (15, 6)}


def task(input_data, config):
    country = input_data["country"]
    if country == "Atlantis":
        raise ValueError("task exploded on Atlantis")
    with LLMObs.llm(model_name="sim-1", model_provider="simulated", name="llm") as span:
        answer = CAPITALS[country] if country != "Peru" else "Cusco"
        tin, tout = TOKENS[country]
        LLMObs.annotate(
            span=span,
            input_data=country,
            output_data=answer,
            metrics={"input_tokens": tin, "output_tokens": tout, "total_tokens": tin + tout},
        )
    return answer


def clean_task(input_data, config):
    return CAPITALS.get(input_data["country"], "?")


def exact(input_data, output_data, expected_output):
    return output_data == expected_output


def closeness(input_data, output_data, expected_output):
    out = output_data or ""
    return round(
        sum(a == b for a, b in zip(out, expected_output, strict=False)) / len(expected_output), 3
    )


def grade(input_data, output_data, expected_output):
    return "Good" if output_data == expected_output else "Bad"


def judge(input_data, output_data, expected_output):
    ok = output_data == expected_output
    return EvaluatorResult(
        value="correct" if ok else "incorrect",
        assessment="pass" if ok else "fail",
        reasoning=f"compared {output_data!r} with {expected_output!r}",
    )


def shape(input_data, output_data, expected_output):
    return {"length": len(output_data or "")}


def fragile(input_data, output_data, expected_output):
    if input_data["country"] == "Japan":
        raise RuntimeError("evaluator broke on Japan")
    return 1.0


def accuracy(inputs, outputs, expected_outputs, evaluators_results):
    values = [v for v in evaluators_results["exact"] if v is not None]
    return sum(values) / len(values)


def majority(inputs, outputs, expected_outputs, evaluators_results):
    good = sum(1 for v in evaluators_results["grade"] if v == "good")
    return "mostly_good" if good * 2 > len(evaluators_results["grade"]) else "mostly_bad"


def main(out_path):
    LLMObs.enable(ml_app="store-test", project_name="store-test-project", agentless_enabled=True)
    records = [
        {
            "input_data": {"country": country},
            "expected_output": capital,
            "metadata": {"continent": "x"},
            "tags": [f"country:{country.lower()}"],
        }
        for country, capital in CAPITALS.items()
    ]
    records.append({"input_data": {"country": "Atlantis"}, "expected_output": "Poseidonis"})
    dataset = LLMObs.create_dataset(dataset_name="store-test-capitals", records=records)
    out = {"dataset_id": dataset._id, "dataset_version": dataset.version, "experiments": {}}
    for name, fn, evaluators, summaries in (
        (
            "store-full",
            task,
            [exact, closeness, grade, judge, shape, fragile],
            [accuracy, majority],
        ),
        ("store-clean", clean_task, [exact, closeness], [accuracy]),
    ):
        experiment = LLMObs.experiment(
            name=name,
            task=fn,
            dataset=dataset,
            evaluators=evaluators,
            summary_evaluators=summaries,
            config={"model": "sim-1"},
            tags={"ci.pipeline": "store-test", "git.branch": "main"},
            runs=3,
        )
        result = experiment.run(jobs=3)
        out["experiments"][name] = {
            "id": experiment._id,
            "url": experiment.url,
            "runs": [
                {"rows": run.rows, "summary_evaluations": run.summary_evaluations}
                for run in result["runs"]
            ],
        }
    LLMObs.flush()
    with open(out_path, "w") as f:
        json.dump(out, f, default=str)


if __name__ == "__main__":
    main(sys.argv[1])
