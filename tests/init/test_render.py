"""driftgate.init.render: values quoted for their spot whatever they hold, the commented
configuration true to the defaults, and the workflows the same as the README's."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from driftgate.config import GateConfig, parse_config
from driftgate.init.infer import ExperimentName, Plan, workflow_problem
from driftgate.init.render import (
    ACTION,
    GATE_WORKFLOW,
    PUBLISH_WORKFLOW,
    branch_filter,
    comment,
    environment,
    render,
    toml_key,
    yaml_scalar,
)
from tests.container.workflow_inputs import literal_branch, read_gate_workflow
from tests.test_readme_workflows import yaml_blocks

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"

# What a workflow can hold: printable text without GitHub's expression opener.
workflow_text = st.text(min_size=1).filter(lambda t: workflow_problem(t) is None)


@given(workflow_text)
def test_a_yaml_scalar_reads_back_as_itself(value: str) -> None:
    assert yaml.safe_load(f"key: {yaml_scalar(value)}\n") == {"key": value}
    assert yaml.safe_load(f"- [{yaml_scalar(value)}]\n") == [[value]]


@pytest.mark.parametrize(
    "value",
    ["true", "on", "No", "null", "1.0", "0x1f", "~", "- x", "a: b", "x #y", "*ref", "&a", "!tag"],
)
def test_yaml_words_numbers_and_indicators_are_quoted(value: str) -> None:
    assert yaml_scalar(value).startswith('"')
    assert yaml.safe_load(f"k: {yaml_scalar(value)}") == {"k": value}


def test_plain_values_stay_plain() -> None:
    for value in ("python evals/experiment.py", "pip install -r requirements.txt", ACTION):
        assert yaml_scalar(value) == value


def test_what_a_workflow_cannot_hold_is_refused() -> None:
    for value in ("a\nb", "${{ secrets.X }}"):
        with pytest.raises(ValueError, match="cannot go into a workflow"):
            yaml_scalar(value)
    with pytest.raises(ValueError, match="cannot go into a comment"):
        comment("two\nlines")


@given(workflow_text)
def test_a_branch_filter_matches_its_branch_alone(branch: str) -> None:
    pattern = yaml.safe_load(f"k: {branch_filter(branch)}")["k"]
    assert literal_branch(pattern) == branch


@given(st.text(min_size=1).filter(str.isprintable))
def test_a_toml_key_reads_back_as_itself(key: str) -> None:
    parsed = tomllib.loads(f'[metrics.{toml_key(key)}]\nlevel = "off"\n')
    assert parsed == {"metrics": {key: {"level": "off"}}}


def test_a_template_cannot_print_an_unquoted_value() -> None:
    template = environment().from_string("command: << command >>\n")
    with pytest.raises(TypeError, match="unquoted str"):
        template.render(command="python x.py")


def _plan(**changes: object) -> Plan:
    values: dict[str, object] = {
        "script": "evals/experiment.py",
        "script_why": "",
        "others": (),
        "skipped": (),
        "command": "python evals/experiment.py",
        "working_directory": ".",
        "experiment": ExperimentName("literal", ("support-bot-eval",), ("helpful", "polite")),
        "pipeline": "support-bot-eval",
        "pipeline_why": "",
        "branch": "main",
        "branch_why": "",
        "setup": "pip install -r evals/requirements.txt",
        "setup_why": "",
        "config": "driftgate.toml",
        "config_why": "",
        "fork_publish": True,
    }
    values.update(changes)
    return Plan(**values)  # type: ignore[arg-type]


def _outputs(plan: Plan) -> dict[str, str]:
    return {output.path: output.text for output in render(plan, None)}


SETTING = re.compile(r"^# (\[[^\]]+\]|[a-z_]+ = .*)$")


def test_the_configuration_loads_and_each_setting_is_its_default() -> None:
    text = _outputs(_plan())["driftgate.toml"]
    empty = parse_config(tomllib.loads(text), source="driftgate.toml")
    assert empty == GateConfig(source="driftgate.toml")
    # Uncommented, every setting but the metrics example's is the default the gate uses.
    uncommented = "\n".join(line[2:] if SETTING.match(line) else line for line in text.splitlines())
    assert uncommented.count("\n[") >= 3, "the settings were not uncommented"
    config = parse_config(tomllib.loads(uncommented))
    defaults = GateConfig()
    assert config.alpha == defaults.alpha
    assert config.incomplete == defaults.incomplete
    assert config.budgets == defaults.budgets
    # The examples of what has no default: a restriction, a gated slice.
    assert config.where == "difficulty:hard"
    (gated,) = config.slices
    assert (gated.tag, gated.level, gated.alpha) == ("difficulty:hard", "fail", None)
    # The example rule names the script's first evaluator, and is a pass rate's default.
    (rule,) = config.metrics
    assert rule.pattern == "helpful"
    policy, default = config.policy("helpful", "boolean"), defaults.policy("helpful", "boolean")
    assert (policy.direction, policy.min_effect, policy.level) == (
        default.direction,
        default.min_effect,
        default.level,
    )
    assert rule.pass_values == ("correct",)  # for categorical evaluators only
    assert "# The script's evaluators: helpful, polite." in text


def test_without_evaluators_the_example_is_a_glob() -> None:
    text = _outputs(_plan(experiment=ExperimentName("computed")))["driftgate.toml"]
    assert '# [metrics."correct*"]' in text
    assert "The script's evaluators" not in text


def test_the_action_is_the_readmes() -> None:
    used = set(re.findall(r"uses:\s*(\S+/driftgate@\S+)", README.read_text()))
    assert used == {ACTION}


def _readme_workflow(trigger: str) -> dict[str, object]:
    for block in yaml_blocks(README):
        data = yaml.safe_load(block.text)
        if isinstance(data, dict) and trigger in (data.get(True) or {}):
            return data
    raise AssertionError(f"no README workflow on {trigger}")


def test_the_workflows_are_the_readmes() -> None:
    """Permissions, triggers and the steps around driftgate's, as the README shows them:
    what the README says the Action needs is what init writes."""
    outputs = _outputs(_plan())
    gate = yaml.safe_load(outputs[GATE_WORKFLOW])
    readme_gate = _readme_workflow("pull_request")
    assert gate["permissions"] == readme_gate["permissions"]
    assert gate[True] == readme_gate[True]
    readme_steps = readme_gate["jobs"]["gate"]["steps"]  # type: ignore[index]
    steps = gate["jobs"]["gate"]["steps"]
    assert steps[:2] == readme_steps[:2]  # checkout with its history, the store's cache
    upload = next(
        yaml.safe_load(b.text)[0]
        for b in yaml_blocks(README)
        if "upload-artifact" in b.text and b.text.lstrip().startswith("- uses")
    )
    assert steps[3] == upload

    publish = yaml.safe_load(outputs[PUBLISH_WORKFLOW])
    readme_publish = _readme_workflow("workflow_run")
    assert publish[True] == readme_publish[True]
    assert publish["permissions"] == readme_publish["permissions"]
    assert publish["jobs"]["publish"]["if"] == readme_publish["jobs"]["publish"]["if"]  # type: ignore[index]
    assert publish["jobs"]["publish"]["steps"][0]["with"] == {
        "mode": "publish",
        "pipeline": "support-bot-eval",
    }
    # The publish workflow waits for the gate workflow by its name.
    assert publish[True]["workflow_run"]["workflows"] == [gate["name"]]


def test_without_fork_publish_no_upload_and_no_publish_workflow() -> None:
    outputs = _outputs(_plan(fork_publish=False))
    assert PUBLISH_WORKFLOW not in outputs
    workflow = read_gate_workflow(outputs[GATE_WORKFLOW])
    assert [step["uses"] for step in workflow.others] == ["actions/checkout@v4", "actions/cache@v4"]


def test_inputs_at_their_default_are_left_out() -> None:
    workflow = read_gate_workflow(_outputs(_plan(setup=None))[GATE_WORKFLOW])
    assert workflow.gate["with"] == {
        "command": "python evals/experiment.py",
        "pipeline": "support-bot-eval",
    }
    workflow = read_gate_workflow(_outputs(_plan(working_directory="services/bot"))[GATE_WORKFLOW])
    assert workflow.gate["with"]["working-directory"] == "services/bot"
