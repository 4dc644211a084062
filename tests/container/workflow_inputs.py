"""A gate workflow (`driftgate init`'s evals.yml) read the way GitHub's runner reads it, into
what `harness.run_action` takes: the events it runs on, and the driftgate step's inputs as
the runner passes them to a Docker action (every input action.yml declares: the step's
`with:` value, else action.yml's default; every value a string; each `${{ }}` expression
evaluated from values the test gives).

Nothing is skipped silently: a workflow with a step this module cannot stand for (a `run:`
step, an action other than checkout, cache and upload-artifact, an `if:` on the driftgate
step) or an input our action.yml does not declare fails with the reason. The steps besides
driftgate's are what the container test's workspace already is: a checkout with history,
and the store kept between runs (the workspace keeps `.driftgate/`, as the cache restores
it).

No Docker here: tests/init/test_workflow_inputs.py tests this module on its own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ACTION_YML = Path(__file__).resolve().parents[2] / "action.yml"
DRIFTGATE = re.compile(r"[\w.-]+/driftgate@[\w.-]+")
STANDING_IN = {"actions/checkout", "actions/cache", "actions/upload-artifact"}
"""The other steps a gate workflow may have: the container test's workspace stands in for
them."""
_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
_UNESCAPED_SPECIAL = re.compile(r"(?<!\\)[*?+\[\]!]")


@dataclass(frozen=True)
class GateWorkflow:
    name: str
    on_pull_request: bool
    push_branches: tuple[str, ...]
    """The `branches:` filters of `on.push`, as written."""
    permissions: dict[str, str]
    gate: dict[str, Any]
    """The driftgate step."""
    others: tuple[dict[str, Any], ...]
    """The job's other steps, in order."""


def read_gate_workflow(text: str) -> GateWorkflow:
    data = yaml.safe_load(text)
    assert isinstance(data, dict), "the workflow is not a mapping"
    on = data.get("on", data.get(True))  # YAML 1.1 (PyYAML) reads the key `on` as true
    assert isinstance(on, dict), f"on: {on!r}; expected a mapping of events"
    push = on.get("push") or {}
    jobs = data.get("jobs") or {}
    assert len(jobs) == 1, f"expected one job, found {sorted(jobs)}"
    (job,) = jobs.values()
    gates: list[dict[str, Any]] = []
    others: list[dict[str, Any]] = []
    for step in job.get("steps") or []:
        uses = str(step.get("uses", ""))
        if DRIFTGATE.fullmatch(uses):
            gates.append(step)
            continue
        assert "run" not in step, f"a run: step the container test cannot stand for: {step}"
        assert uses.partition("@")[0] in STANDING_IN, f"a step the test cannot stand for: {uses}"
        others.append(step)
    assert len(gates) == 1, f"expected one driftgate step, found {len(gates)}"
    (gate,) = gates
    assert "if" not in gate, f"the driftgate step has a condition to evaluate: {gate['if']!r}"
    return GateWorkflow(
        name=str(data.get("name", "")),
        on_pull_request="pull_request" in on,
        push_branches=tuple(str(b) for b in push.get("branches") or ()),
        permissions={str(k): str(v) for k, v in (data.get("permissions") or {}).items()},
        gate=gate,
        others=tuple(others),
    )


def literal_branch(pattern: str) -> str:
    """The one branch a `branches:` filter written for it matches (its `\\` escapes undone);
    a filter with an unescaped special character matches more than one, and fails here."""
    special = _UNESCAPED_SPECIAL.search(pattern)
    assert special is None, f"{pattern!r} is a pattern ({special.group()!r}), not one branch"
    return re.sub(r"\\(.)", r"\1", pattern)


def _string(value: object) -> str:
    """A `with:` value as the runner hands it over: YAML's true is "true", 30 is "30"."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def evaluate(text: str, expressions: Mapping[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        expression = match.group(1)
        assert expression in expressions, (
            f"the workflow uses ${{{{ {expression} }}}}: give its value to the test"
        )
        return expressions[expression]

    return _EXPRESSION.sub(value, text)


def runner_inputs(
    step: Mapping[str, Any],
    expressions: Mapping[str, str],
    action_yml: Path = ACTION_YML,
) -> dict[str, str]:
    """Every input of our action.yml as the runner sets it for `step`: the step's value, else
    the declared default (`${{ github.token }}` and the like, from `expressions`)."""
    declared: dict[str, dict[str, Any]] = yaml.safe_load(action_yml.read_text())["inputs"]
    given = dict(step.get("with") or {})
    unknown = sorted(set(given) - set(declared))
    assert not unknown, f"inputs our action.yml does not declare: {unknown}"
    inputs: dict[str, str] = {}
    for name, spec in declared.items():
        if name in given:
            raw = given[name]
        elif "default" in spec:
            raw = spec["default"]
        else:
            continue
        inputs[name] = evaluate(_string(raw), expressions)
    return inputs
