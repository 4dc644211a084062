"""A plain ddtrace experiment of N records x 3 evaluators x 3 runs (N = argv[1]); the task
makes one LLM child span with token metrics, like a real call would."""

import sys

from ddtrace.llmobs import LLMObs


def task(input_data, config):
    with LLMObs.llm(model_name="bench", model_provider="none", name="llm") as span:
        answer = str(input_data["n"] * 2)
        LLMObs.annotate(
            span=span,
            input_data=str(input_data["n"]),
            output_data=answer,
            metrics={"input_tokens": 8, "output_tokens": 2, "total_tokens": 10},
        )
    return answer


def correct(input_data, output_data, expected_output):
    return output_data == expected_output


def closeness(input_data, output_data, expected_output):
    return 1.0 / (1 + abs(int(output_data) - int(expected_output)))


def size(input_data, output_data, expected_output):
    return "long" if len(output_data) > 3 else "short"


def main(n: int) -> None:
    LLMObs.enable(ml_app="bench", project_name="bench", agentless_enabled=True)
    records = [{"input_data": {"n": i}, "expected_output": str(i * 2)} for i in range(n)]
    dataset = LLMObs.create_dataset(dataset_name=f"bench-{n}", records=records)
    experiment = LLMObs.experiment(
        name="ingest-bench",
        task=task,
        dataset=dataset,
        evaluators=[correct, closeness, size],
        runs=3,
    )
    experiment.run(jobs=10)
    LLMObs.flush()
    print(f"experiment: {experiment.url}", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]))
