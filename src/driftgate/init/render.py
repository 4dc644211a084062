"""The files `driftgate init` writes, rendered from the packaged templates (`templates/`), and
what it prints about them.

Pure: the only I/O is reading the templates shipped in this package. Every value a template
prints goes through a filter that quotes it for its spot (a YAML scalar, a branch filter, a
TOML key, a comment); printing anything else raises, so a path or a name cannot change the
structure of a workflow.
"""

from __future__ import annotations

import json
import re
import shlex
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import jinja2

from driftgate.init.infer import (
    GITIGNORE_LINE,
    Plan,
    gitignore_with_state,
    listed,
    shown,
    workflow_problem,
)

ACTION = "owner/driftgate@v1"
"""The Action, at the reference README.md's workflows use (a test keeps the two the same)."""

WORKFLOWS = ".github/workflows"
GATE_WORKFLOW = f"{WORKFLOWS}/evals.yml"
PUBLISH_WORKFLOW = f"{WORKFLOWS}/evals-publish.yml"
GITIGNORE = ".gitignore"
EXAMPLE_METRIC = "correct*"

# A YAML scalar left plain only when it cannot be read as anything but this string: no
# indicator, no `: ` or ` #`, not a YAML 1.1 boolean or null, not a number.
_PLAIN = re.compile(r"[A-Za-z_./][A-Za-z0-9_./@+ -]*")
_YAML_WORDS = {"y", "n", "yes", "no", "true", "false", "on", "off", "null"}
_BARE_TOML_KEY = re.compile(r"[A-Za-z0-9_-]+")
# Special in GitHub's branch filters; `\` makes each literal.
_FILTER_SPECIAL = re.compile(r"([*?+\[\]!\\])")


class Text(str):
    """A value quoted for the spot a template prints it in."""


def yaml_scalar(value: str) -> Text:
    problem = workflow_problem(value)
    if problem:
        raise ValueError(f"{value!r} cannot go into a workflow: {problem}")
    plain = (
        _PLAIN.fullmatch(value) is not None
        and not value.endswith(" ")
        and value.lower() not in _YAML_WORDS
    )
    # JSON's strings are YAML's double-quoted scalars.
    return Text(value if plain else json.dumps(value, ensure_ascii=False))


def branch_filter(branch: str) -> Text:
    """A branch name as a `branches:` filter that matches it alone."""
    return yaml_scalar(_FILTER_SPECIAL.sub(r"\\\1", branch))


def toml_key(value: str) -> Text:
    # JSON's strings are TOML's basic strings, for the printable text that reaches here.
    return Text(value if _BARE_TOML_KEY.fullmatch(value) else json.dumps(value, ensure_ascii=False))


def comment(value: str | Sequence[str]) -> Text:
    """Text inside a `#` comment: one line, nothing invisible."""
    text = value if isinstance(value, str) else ", ".join(value)
    if not text.isprintable():
        raise ValueError(f"{text!r} cannot go into a comment")
    return Text(text)


def _finalize(value: object) -> object:
    if isinstance(value, Text):
        return value
    raise TypeError(
        f"a template printed an unquoted {type(value).__name__} ({str(value)[:60]!r}); pass "
        "it through yaml, branch_filter, toml_key or comment"
    )


def _load(name: str) -> str:
    return (resources.files("driftgate.init") / "templates" / name).read_text("utf-8")


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(_load),
        # `${{ }}` is GitHub's: Jinja's own delimiters would read it.
        variable_start_string="<<",
        variable_end_string=">>",
        block_start_string="<%",
        block_end_string="%>",
        comment_start_string="<#",
        comment_end_string="#>",
        autoescape=False,  # noqa: S701 (YAML and TOML: the filters quote, `_finalize` insists)
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_finalize,
    )
    env.filters.update(
        yaml=yaml_scalar, branch_filter=branch_filter, toml_key=toml_key, comment=comment
    )
    return env


# ------------------------------------------------------------------------- the files


@dataclass(frozen=True)
class Output:
    path: str
    """Relative to the repository's root."""
    text: str
    replaces: bool = True
    """False for `.gitignore`, which is added to, never overwritten."""


def render(plan: Plan, gitignore: str | None) -> list[Output]:
    """The files for `plan`; `gitignore` is the current `.gitignore` (None: there is none)."""
    env = environment()
    values = {
        "action": ACTION,
        "branch": plan.branch,
        "pipeline": plan.pipeline,
        "command": plan.command,
        "setup": plan.setup,
        "working_directory": plan.working_directory,
        "fork_publish": plan.fork_publish,
    }
    outputs = [Output(GATE_WORKFLOW, env.get_template("evals.yml.j2").render(values))]
    if plan.fork_publish:
        text = env.get_template("evals-publish.yml.j2").render(values)
        outputs.append(Output(PUBLISH_WORKFLOW, text))
    if plan.config is not None:
        evaluators = plan.experiment.evaluators
        text = env.get_template("driftgate.toml.j2").render(
            evaluators=evaluators, metric=evaluators[0] if evaluators else EXAMPLE_METRIC
        )
        outputs.append(Output(plan.config, text))
    ignored = gitignore_with_state(gitignore)
    if ignored is not None:
        outputs.append(Output(GITIGNORE, ignored, replaces=False))
    return outputs


# ------------------------------------------------------------------------- what is printed


def _wrapped(text: str) -> list[str]:
    return textwrap.wrap(text, width=92, subsequent_indent="  ", break_on_hyphens=False)


def try_command(plan: Plan) -> str:
    """The gate as the workflow runs it, on this machine with the embedded store. The base
    branch is said: without a remote, `driftgate run` knows only main and master."""
    branch = shlex.quote(plan.branch)
    return (
        f"driftgate run --local --base-branch {branch} --pipeline {plan.pipeline} -- {plan.command}"
    )


def summary(plan: Plan, outputs: Sequence[Output], *, dry_run: bool) -> str:
    """What was inferred and from where, what was written, and what to do next."""
    check = f"driftgate / {plan.pipeline}"
    lines = [
        "driftgate init: inferred",
        f"  script     {shown(plan.script)} ({plan.script_why})",
    ]
    if plan.others:
        lines.append(f"             also found: {listed(plan.others)}")
    if plan.skipped:
        lines.append(f"             skipped (names a workflow cannot hold): {listed(plan.skipped)}")
    lines += [
        f"  command    {plan.command}"
        + (f" (in {plan.working_directory})" if plan.working_directory != "." else ""),
        f"  pipeline   {plan.pipeline} ({plan.pipeline_why}): the check is `{check}`",
        f"  branch     {shown(plan.branch)} ({plan.branch_why}): baselines are recorded there",
        f"  setup      {plan.setup} ({plan.setup_why})"
        if plan.setup
        else f"  setup      none ({plan.setup_why})",
        f"  config     {plan.config} ({plan.config_why})"
        if plan.config
        else f"  config     {plan.config_why}",
    ]
    lines += [f"note: {note}" for note in plan.notes]
    verb = "would write" if dry_run else "wrote"
    for output in outputs:
        if output.replaces:
            lines.append(f"{verb} {output.path}")
        else:
            lines.append(f"{'would add' if dry_run else 'added'} {GITIGNORE_LINE} to {output.path}")
    if dry_run:
        lines.append("nothing was written (--dry-run); the files would be:")
        for output in outputs:
            lines += ["", f"--- {output.path}", output.text.rstrip("\n")]
        return "\n".join(lines)
    here = "" if plan.working_directory == "." else f"cd {shlex.quote(plan.working_directory)} && "
    lines += _wrapped(
        f"next: commit these files and push them to {shown(plan.branch)}; that run records the "
        "baseline, and every pull request is compared with it. To block merging on a failing "
        f"gate, make the check `{check}` required (Settings > Branches)."
    )
    lines += ["try it here first:", f"  {here}{try_command(plan)}"]
    if not plan.fork_publish:
        lines += _wrapped(
            "forks: their pull requests get a read-only token; `driftgate init --fork-publish "
            "--force` adds the workflow that posts their reports (and rewrites these files)."
        )
    return "\n".join(lines)
