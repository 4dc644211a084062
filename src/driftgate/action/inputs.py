"""The Action's inputs (action.yml), read once from the `INPUT_*` variables into a frozen
model. Every bad value raises `InputError` naming the input and what it may be; secrets are
`SecretStr`, so no repr, log line or error message prints them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from driftgate.action import workflow
from driftgate.action.python_env import check_version
from driftgate.action.workflow import InputError
from driftgate.ci.databranch import DEFAULT_BRANCH, valid_branch
from driftgate.experiments.baseline import RefError, split_run
from driftgate.session import STATE_DIR, STORES, StoreChoice
from driftgate.verdict import (
    COMMENT_MODES,
    FAIL_ON,
    NO_BASELINE,
    PIPELINE,
    CommentMode,
    FailOn,
    NoBaseline,
)

Mode = Literal["gate", "publish"]
MODES: tuple[Mode, ...] = get_args(Mode)

ARTIFACT_DIR = f"{STATE_DIR}/artifact"
ARTIFACT_NAME = "driftgate-report"
# GitHub's own rule for artifact names: none of these characters.
_ARTIFACT_NAME_FORBIDDEN = re.compile(r'["\\:<>|*?/\r\n]')


class ActionInputs(BaseModel):
    """Every input of action.yml, parsed once; secrets never print."""

    model_config = ConfigDict(frozen=True)

    mode: Mode
    command: str | None
    pipeline: str
    setup: str | None
    python_version: str | None
    """A CPython version for the commands (3.12, 3.12.4); None: the image's Python."""
    working_directory: str
    config: str | None
    baseline_branch: str | None
    baseline_experiment_id: str | None
    where: str | None
    """A query every comparison is restricted to (`--where`); None: the configuration's."""
    history_branch: str | None
    """The branch keeping the base branch's runs for the embedded store; None: none."""
    fail_on: FailOn
    no_baseline: NoBaseline
    comment: CommentMode
    check: bool
    github_token: SecretStr | None = Field(repr=False)
    api_url: str
    dd_api_key: SecretStr | None = Field(repr=False)
    dd_app_key: SecretStr | None = Field(repr=False)
    dd_site: str | None
    dd_project: str | None
    timeout_minutes: float
    wait_minutes: float
    store: StoreChoice
    artifact: str
    artifact_name: str

    @property
    def secrets(self) -> list[SecretStr]:
        return [s for s in (self.github_token, self.dd_api_key, self.dd_app_key) if s]

    def datadog_env(self) -> dict[str, str]:
        """The Datadog inputs as the variables ddtrace and the client read."""
        env: dict[str, str] = {}
        if self.dd_api_key:
            env["DD_API_KEY"] = self.dd_api_key.get_secret_value()
        if self.dd_app_key:
            env["DD_APP_KEY"] = self.dd_app_key.get_secret_value()
        if self.dd_site:
            env["DD_SITE"] = self.dd_site
        if self.dd_project:
            env["DD_LLMOBS_PROJECT_NAME"] = self.dd_project
        return env


def read_inputs(env: Mapping[str, str]) -> ActionInputs:
    get = workflow.get_input
    mode = workflow.get_choice_input(env, "mode", MODES, default="gate")
    command = get(env, "command", required=mode == "gate") or None
    pipeline = get(env, "pipeline", default="default")
    if not PIPELINE.fullmatch(pipeline):
        raise InputError(
            f"Value '{pipeline}' is not supported for input pipeline; expected letters, digits, "
            "'.', '_' or '-' (at most 64), starting with a letter or digit"
        )
    baseline_id = get(env, "baseline-experiment-id") or None
    if baseline_id:
        try:
            split_run(baseline_id)
        except RefError as exc:
            raise InputError(f"Input baseline-experiment-id: {exc}") from None
    where = _where(get(env, "where"))
    history_branch = get(env, "history-branch", default=DEFAULT_BRANCH) or None
    if history_branch is not None and not valid_branch(history_branch):
        raise InputError(
            f"Value '{history_branch[:80]}' is not supported for input history-branch; expected "
            "a branch name (letters, digits, '.', '_', '-', '/'), such as driftgate-data, or "
            "empty to keep no history"
        )
    artifact_name = get(env, "artifact-name", default=ARTIFACT_NAME)
    if len(artifact_name) > 256 or _ARTIFACT_NAME_FORBIDDEN.search(artifact_name):
        raise InputError(
            f"Value '{artifact_name[:80]}' is not supported for input artifact-name; expected "
            "the name given to actions/upload-artifact (no quotes, colons, angle brackets, "
            "pipes, asterisks, question marks or slashes)"
        )
    return ActionInputs(
        mode=mode,
        command=command,
        pipeline=pipeline,
        setup=get(env, "setup") or None,
        python_version=check_version(version) if (version := get(env, "python-version")) else None,
        working_directory=get(env, "working-directory", default="."),
        config=get(env, "config") or None,
        baseline_branch=get(env, "baseline-branch") or None,
        baseline_experiment_id=baseline_id,
        where=where,
        history_branch=history_branch,
        fail_on=workflow.get_choice_input(env, "fail-on", FAIL_ON, default="regression"),
        no_baseline=workflow.get_choice_input(env, "no-baseline", NO_BASELINE, default="neutral"),
        comment=workflow.get_choice_input(env, "comment", COMMENT_MODES, default="always"),
        check=workflow.get_bool_input(env, "check", default=True),
        github_token=workflow.get_secret_input(env, "github-token"),
        api_url=get(env, "api-url", default=env.get("GITHUB_API_URL") or "https://api.github.com"),
        dd_api_key=workflow.get_secret_input(env, "dd-api-key"),
        dd_app_key=workflow.get_secret_input(env, "dd-app-key"),
        dd_site=get(env, "dd-site") or None,
        dd_project=get(env, "dd-project") or None,
        timeout_minutes=workflow.get_number_input(env, "timeout-minutes", default=30, minimum=0.01),
        wait_minutes=workflow.get_number_input(env, "wait-minutes", default=10, minimum=0),
        store=workflow.get_choice_input(env, "store", STORES, default="auto"),
        artifact=get(env, "artifact", default=ARTIFACT_DIR),
        artifact_name=artifact_name,
    )


def _where(text: str) -> str | None:
    """The `where` input, read before anything runs; empty is no input, so that the
    configuration's `where` (if any) applies, as without `--where`."""
    if not text.strip():
        return None
    # The query language (numpy): imported only for a query to read.
    from driftgate.query import QueryError, parse

    try:
        parse(text)
    except QueryError as exc:
        raise InputError(f"Input where: {exc.render()}") from None
    return text
