"""A Datadog LLM Observability experiment, written the way a team would write it: ddtrace's
public API and nothing of driftgate's.

The "model" is a small simulation so that the example runs offline: it knows most capitals,
confuses a few famous ones (Sydney for Canberra), and at higher temperatures sometimes
answers wrongly. Its randomness is seeded, so every machine sees the same answers. Set
CAPITALS_MODEL / CAPITALS_TEMPERATURE to change its behaviour.

Run it against driftgate's embedded store (no account needed):

    driftgate serve --port 8765 &
    DD_LLMOBS_OVERRIDE_ORIGIN=http://127.0.0.1:8765 DD_API_KEY=local DD_APP_KEY=local \
        python examples/capitals/experiment.py

or against Datadog, with DD_API_KEY, DD_APP_KEY and DD_SITE set and no override.
"""

from __future__ import annotations

import json
import os
import random
import re
import threading
from difflib import SequenceMatcher

from ddtrace.llmobs import EvaluatorResult, LLMObs

MODEL = os.environ.get("CAPITALS_MODEL", "atlas-small")
TEMPERATURE = float(os.environ.get("CAPITALS_TEMPERATURE", "0.2"))

# (country, capital, difficulty)
QUESTIONS = [
    ("France", "Paris", "easy"),
    ("Japan", "Tokyo", "easy"),
    ("Italy", "Rome", "easy"),
    ("Germany", "Berlin", "easy"),
    ("Spain", "Madrid", "easy"),
    ("Canada", "Ottawa", "medium"),
    ("Australia", "Canberra", "medium"),
    ("Brazil", "Brasília", "medium"),
    ("Turkey", "Ankara", "medium"),
    ("Switzerland", "Bern", "medium"),
    ("New Zealand", "Wellington", "medium"),
    ("Nigeria", "Abuja", "hard"),
    ("Myanmar", "Naypyidaw", "hard"),
    ("Kazakhstan", "Astana", "hard"),
    ("Bolivia", "Sucre", "hard"),
    ("Sri Lanka", "Sri Jayawardenepura Kotte", "hard"),
    ("Tanzania", "Dodoma", "hard"),
    ("Côte d'Ivoire", "Yamoussoukro", "hard"),
]

# What the simulated model believes when it is wrong: the famous city, not the capital.
CONFUSIONS = {
    "Canada": "Toronto",
    "Australia": "Sydney",
    "Brazil": "Rio de Janeiro",
    "Turkey": "Istanbul",
    "Switzerland": "Zurich",
    "New Zealand": "Auckland",
    "Nigeria": "Lagos",
    "Myanmar": "Yangon",
    "Kazakhstan": "Almaty",
    "Bolivia": "La Paz",
    "Sri Lanka": "Colombo",
    "Tanzania": "Dar es Salaam",
    "Côte d'Ivoire": "Abidjan",
}

# How often each model falls for a confusion, by difficulty.
SKILL = {
    "atlas-small": {"easy": 0.0, "medium": 0.15, "hard": 0.4},
    "atlas-large": {"easy": 0.0, "medium": 0.05, "hard": 0.15},
    "atlas-tiny": {"easy": 0.05, "medium": 0.5, "hard": 0.8},
}


def ask_model(country: str, difficulty: str, rng: random.Random) -> str:
    """Answer one question, inside an LLM span that records tokens like a real call would."""
    prompt = f"What is the capital of {country}? Answer with the city name only."
    with LLMObs.llm(model_name=MODEL, model_provider="simulated", name="answer") as span:
        wrong = rng.random() < SKILL.get(MODEL, SKILL["atlas-small"])[difficulty] + TEMPERATURE / 10
        if wrong and country in CONFUSIONS:
            answer = CONFUSIONS[country]
        else:
            answer = next(c for n, c, _ in QUESTIONS if n == country)
        if rng.random() < TEMPERATURE / 4:
            answer = f"The capital is {answer}."
        LLMObs.annotate(
            span=span,
            input_data=[{"role": "user", "content": prompt}],
            output_data=[{"role": "assistant", "content": answer}],
            metrics={
                "input_tokens": len(prompt.split()) + 4,
                "output_tokens": len(answer.split()) + 1,
                "total_tokens": len(prompt.split()) + len(answer.split()) + 5,
            },
        )
    return answer


_calls: dict[str, int] = {}
_calls_lock = threading.Lock()


def _rng(country: str) -> random.Random:
    """Each call to the simulated model draws from its own seeded stream (the model, the
    question and how many times it was asked), so the example's "randomness" is the same on
    every machine while each run still differs from the last, as a real model's would."""
    with _calls_lock:
        _calls[country] = _calls.get(country, 0) + 1
        n = _calls[country]
    return random.Random(f"{MODEL}:{TEMPERATURE}:{country}:{n}")


def task(input_data: dict, config: dict) -> str:
    country = input_data["country"]
    if country == "Atlantis":
        raise ValueError("no such country: Atlantis")
    difficulty = input_data["difficulty"]
    return ask_model(country, difficulty, _rng(country))


def _norm(text: str | None) -> str:
    # A task that failed has no output; evaluators score it as wrong rather than crash.
    text = re.sub(r"^the capital is\s+", "", (text or "").strip().lower())
    return text.rstrip(".")


def exact_match(input_data, output_data, expected_output) -> bool:
    return _norm(output_data) == _norm(expected_output)


def similarity(input_data, output_data, expected_output) -> float:
    return round(SequenceMatcher(None, _norm(output_data), _norm(expected_output)).ratio(), 4)


def judge(input_data, output_data, expected_output) -> EvaluatorResult:
    """An LLM-as-judge stand-in: a category, an assessment and its reasoning."""
    if _norm(output_data) == _norm(expected_output):
        verdict = "correct" if output_data == expected_output else "verbose"
    elif _norm(expected_output) in _norm(output_data):
        verdict = "verbose"
    else:
        verdict = "incorrect"
    return EvaluatorResult(
        value=verdict,
        assessment="fail" if verdict == "incorrect" else "pass",
        reasoning=f"expected {expected_output!r}, got {output_data!r}",
    )


def answer_shape(input_data, output_data, expected_output) -> dict:
    text = output_data or ""
    return {"words": len(text.split()), "chars": len(text)}


def accuracy(inputs, outputs, expected_outputs, evaluators_results) -> float:
    matches = [bool(v) for v in evaluators_results["exact_match"] if v is not None]
    return round(sum(matches) / len(matches), 4) if matches else 0.0


def main() -> None:
    LLMObs.enable(
        ml_app="capitals",
        project_name=os.environ.get("DD_LLMOBS_PROJECT_NAME", "capitals"),
        agentless_enabled=True,
    )
    records = [
        {
            "input_data": {"country": country, "difficulty": difficulty},
            "expected_output": capital,
            "metadata": {"difficulty": difficulty},
            "tags": [f"difficulty:{difficulty}"],
        }
        for country, capital, difficulty in QUESTIONS
    ]
    # One record the task cannot answer: errors are part of what a gate must report.
    records.append(
        {
            "input_data": {"country": "Atlantis", "difficulty": "hard"},
            "expected_output": "Poseidonis",
            "metadata": {"difficulty": "hard"},
            "tags": ["difficulty:hard"],
        }
    )
    dataset = LLMObs.create_dataset(
        dataset_name="capitals-of-the-world",
        description="Which city is the capital?",
        records=records,
    )
    # DRIFTGATE_TAGS carries the commit, branch and pipeline when driftgate runs this script.
    tags = json.loads(os.environ.get("DRIFTGATE_TAGS") or "{}")
    experiment = LLMObs.experiment(
        name="capitals",
        task=task,
        dataset=dataset,
        evaluators=[exact_match, similarity, judge, answer_shape],
        summary_evaluators=[accuracy],
        config={"model": MODEL, "temperature": TEMPERATURE},
        description=f"capitals with {MODEL}",
        tags=tags,
        runs=3,
    )
    experiment.run(jobs=4)
    LLMObs.flush()
    print(f"experiment: {experiment.url}", flush=True)


if __name__ == "__main__":
    main()
