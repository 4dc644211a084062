"""tests/container/workflow_inputs.py without Docker: a generated workflow read into the
inputs the runner would pass, and every workflow it cannot stand for refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.container.workflow_inputs import (
    ACTION_YML,
    evaluate,
    literal_branch,
    read_gate_workflow,
    runner_inputs,
)
from tests.init.repos import SUPPORT_BOT, new_repo, run_init

EXPRESSIONS = {"github.token": "ghs_fake", "github.api_url": "http://127.0.0.1:9/api"}


@pytest.fixture
def generated(tmp_path: Path) -> str:
    root = new_repo(
        tmp_path / "bot",
        {"evals/experiment.py": SUPPORT_BOT, "evals/requirements.txt": "ddtrace\n"},
    )
    assert run_init("--fork-publish", cwd=root).code == 0
    return (root / ".github" / "workflows" / "evals.yml").read_text()


def test_the_generated_workflow_becomes_the_runners_inputs(generated: str) -> None:
    workflow = read_gate_workflow(generated)
    assert workflow.name == "evals"
    assert workflow.on_pull_request
    assert [literal_branch(b) for b in workflow.push_branches] == ["main"]
    assert [s["uses"].partition("@")[0] for s in workflow.others] == [
        "actions/checkout",
        "actions/cache",
        "actions/upload-artifact",
    ]
    inputs = runner_inputs(workflow.gate, EXPRESSIONS)
    declared = yaml.safe_load(ACTION_YML.read_text())["inputs"]
    # Every input the runner sets: the step's, then action.yml's defaults, as strings.
    assert set(inputs) == {name for name, spec in declared.items() if "default" in spec}
    assert inputs["command"] == "python evals/experiment.py"
    assert inputs["pipeline"] == "support-bot-eval"
    assert inputs["setup"] == "pip install -r evals/requirements.txt"
    assert inputs["github-token"] == "ghs_fake"
    assert inputs["api-url"] == "http://127.0.0.1:9/api"
    assert inputs["check"] == "true"
    assert inputs["timeout-minutes"] == "30"
    assert inputs["working-directory"] == "."


def test_values_are_strings_as_the_runner_gives_them() -> None:
    step = {"uses": "owner/driftgate@v1", "with": {"check": False, "wait-minutes": 5}}
    inputs = runner_inputs(step, EXPRESSIONS)
    assert (inputs["check"], inputs["wait-minutes"]) == ("false", "5")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.replace("pipeline:", "pipline:"), "inputs our action.yml does not declare"),
        (
            lambda t: t.replace(
                "      - uses: actions/cache@v4",
                "      - run: echo hi\n      - uses: actions/cache@v4",
            ),
            "a run: step",
        ),
        (
            lambda t: t.replace("actions/cache@v4", "some/other-action@v1"),
            "a step the test cannot stand for",
        ),
        (
            lambda t: t.replace(
                "      - uses: owner/driftgate@v1\n",
                "      - uses: owner/driftgate@v1\n        if: github.actor != 'x'\n",
            ),
            "the driftgate step has a condition",
        ),
    ],
)
def test_what_the_container_test_cannot_stand_for_fails(
    generated: str, change: object, message: str
) -> None:
    changed = change(generated)  # type: ignore[operator]
    assert changed != generated
    with pytest.raises(AssertionError, match=message):
        runner_inputs(read_gate_workflow(changed).gate, EXPRESSIONS)


def test_an_expression_without_a_value_fails() -> None:
    assert evaluate("a ${{ github.token }} b", EXPRESSIONS) == "a ghs_fake b"
    with pytest.raises(AssertionError, match=r"\$\{\{ secrets.DD_API_KEY \}\}"):
        evaluate("${{ secrets.DD_API_KEY }}", EXPRESSIONS)


def test_a_pattern_is_not_one_branch() -> None:
    assert literal_branch("release\\+1\\*") == "release+1*"
    with pytest.raises(AssertionError, match="is a pattern"):
        literal_branch("release/*")
