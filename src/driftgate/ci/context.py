"""The CI context: which commit this run gates, against which base, for which pull request.

Built by pure functions from what the caller hands in: the environment (a mapping), the
parsed GitHub event payload (a dict) and a git reader (the `GitReader` protocol;
`driftgate.ci.git.GitRepo` in production, a fake in tests). Only `read_event_payload` touches
the file system, and `build_context` is the one place that picks the source.

Which commit, per event (GitHub's rules, see the Actions reference):
- `pull_request`, `pull_request_target`: `pull_request.head.sha`, never `GITHUB_SHA`, which
  there is a temporary merge commit that no check or status on the PR would show on.
- `merge_group`: `merge_group.head_sha`; base `merge_group.base_ref` / `base_sha`.
- `workflow_run`: `workflow_run.head_sha`; the PR from `workflow_run.pull_requests[0]`.
- `push`, `workflow_dispatch`, `schedule`: `GITHUB_SHA`, the branch from `GITHUB_REF`.
- outside GitHub Actions: local git (HEAD, the current branch, origin's default branch).

Fallbacks, each recorded in `CIContext.notes` so the report can say it:
- The merge-base is not in any payload: it comes from local git when the checkout has the
  history (actions/checkout with `fetch-depth: 0`), else it is None here, with a note saying
  why; `ci/history.py` then asks GitHub's API for it, and says how that went.
- `workflow_run` for a PR from a fork: GitHub sends an empty `pull_requests` list, so the PR
  number is None and the base branch is taken to be the default branch; `driftgate publish`
  takes the PR number from the artifact the PR's run left (or looks up the open PR whose
  head is `<head_repository owner>:<branch>`).
- `push` / `workflow_dispatch` payloads with keys missing: `GITHUB_SHA` and `GITHUB_REF` are
  enough; the default branch then comes from local git.
- Read-only runs: a `pull_request` from a fork, and `pull_request`/`push` runs by Dependabot
  (actor, sender or PR author `dependabot[bot]`: conservative, a human push onto a
  Dependabot branch is treated the same). `pull_request_target`, `merge_group` and
  `workflow_run` run with the base repository's token and are never read-only.
- Fork PRs: the branch recorded on experiments (metadata `branch`, tag `git.branch`) is
  `owner:branch`, so that a fork's `main` never matches the base branch by name.
- Local runs: run id `local-<UTC time to the microsecond>` (e.g.
  `local-20250102T030405.123456Z`), unique per run and sorting in time order; attempt 1.
Anything else missing (no payload file, not JSON, a PR payload without its head commit, an
event we do not know) raises `ContextError` saying what is missing and what to do.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict

from driftgate.ci.git import GitError, NoCommits
from driftgate.errors import UsageError

PR_EVENTS = ("pull_request", "pull_request_target")
BRANCH_EVENTS = ("push", "workflow_dispatch", "schedule")
SUPPORTED_EVENTS = (*PR_EVENTS, *BRANCH_EVENTS, "merge_group", "workflow_run")
LOCAL_EVENT = "local"
DEPENDABOT = "dependabot[bot]"
GITHUB_SERVER = "https://github.com"
GITHUB_API = "https://api.github.com"

_SHA = re.compile(r"^[0-9a-f]{40}(?:[0-9a-f]{24})?$")
_NULL_SHA = re.compile(r"^0+$")
_OUTSIDE_ACTIONS = (
    "outside GitHub Actions, unset GITHUB_ACTIONS and driftgate reads the context from local git"
)


class ContextError(UsageError):
    """The CI context cannot be determined; the message says what is missing and what to do."""


class GitReader(Protocol):
    """What the context needs from git, for one checkout. Methods raise `GitError`."""

    def is_repo(self) -> bool: ...
    def head_sha(self) -> str: ...
    def current_branch(self) -> str | None: ...
    def default_branch(self) -> str | None: ...
    def merge_base(self, a: str, b: str) -> str | None: ...
    def is_shallow(self) -> bool: ...
    def remote_url(self) -> str | None: ...


class CIContext(BaseModel):
    """Facts about this run. Deciding what to do with them (gate, record, publish) is the
    caller's job."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_name: str
    """The GitHub event (`pull_request`, `push`, ...), or `local` outside Actions."""
    head_sha: str
    """The commit under test: the PR head, never the temporary merge commit."""
    branch: str | None
    """The head branch (a PR's head ref); None for a detached HEAD or a tag push."""
    base_branch: str | None
    """The branch to compare against: the PR's base, else the default branch."""
    base_sha: str | None
    """The base branch's tip as the event saw it (PR base sha, merge group base sha, or the
    previous tip `before` of a push to the base branch); None when unknown."""
    merge_base: str | None
    """Where the head forked from the base, from local git; None when not computable."""
    default_branch: str | None
    pr_number: int | None
    is_fork: bool
    """The PR's head repository differs from the base repository."""
    read_only: bool
    """This run's token cannot write to the repository (fork PR, Dependabot): report through
    the artifact and `driftgate publish`."""
    read_only_reason: str | None
    head_repository: str | None
    """`owner/name` of the PR's head repository (the fork, for fork PRs)."""
    actor: str | None
    run_id: str
    run_attempt: int
    triggering_run_id: str | None = None
    """`workflow_run`: the id of the run that triggered this one (the PR's run)."""
    triggering_run_attempt: int | None = None
    triggering_event: str | None = None
    """`workflow_run`: the event of the triggering run (`pull_request`, `push`, ...)."""
    repository: str | None
    """`owner/name`."""
    repository_url: str | None
    """Web URL of the repository, never with credentials."""
    server_url: str
    api_url: str
    workspace: str
    on_base_branch: bool
    """The run is on the base branch itself (a push, manual or scheduled run, or a local run
    there): it records a baseline rather than gating a change."""
    notes: tuple[str, ...] = ()
    """Fallbacks taken while building the context, in words for the report and the log."""

    @property
    def in_actions(self) -> bool:
        return self.event_name != LOCAL_EVENT

    @property
    def is_pull_request(self) -> bool:
        return self.event_name in PR_EVENTS


# ---------------------------------------------------------------------------- the payload


def read_event_payload(path: str | Path | None) -> dict[str, Any]:
    """The event payload at `path` (`GITHUB_EVENT_PATH`) as a dict."""
    if not path:
        raise ContextError(
            "GITHUB_EVENT_PATH is not set: in GitHub Actions the runner writes the event "
            f"payload there and driftgate needs it; {_OUTSIDE_ACTIONS}"
        )
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ContextError(
            f"the event payload file {path} (GITHUB_EVENT_PATH) does not exist; {_OUTSIDE_ACTIONS}"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ContextError(
            f"cannot read the event payload file {path} (GITHUB_EVENT_PATH): {exc}"
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ContextError(
            f"the event payload file {path} (GITHUB_EVENT_PATH) is not JSON ({exc}); "
            "it should be the file the runner wrote"
        ) from None
    if not isinstance(data, dict):
        raise ContextError(
            f"the event payload in {path} (GITHUB_EVENT_PATH) is a JSON "
            f"{type(data).__name__}, not an object"
        )
    return data


def _dig(data: Mapping[str, Any], dotted: str) -> Any:
    value: Any = data
    for key in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _str(data: Mapping[str, Any], dotted: str) -> str | None:
    value = _dig(data, dotted)
    return value if isinstance(value, str) and value else None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _missing(event: str, dotted: str, why: str) -> ContextError:
    return ContextError(f"the {event} event payload has no `{dotted}`: {why}")


def _sha(value: str | None, source: str) -> str:
    if value is None:
        raise ContextError(f"{source} is missing")
    if not _SHA.match(value):
        raise ContextError(f"{source} is {value!r}, not a full commit sha")
    return value


def _optional_sha(value: str | None) -> str | None:
    return value if value and _SHA.match(value) and not _NULL_SHA.match(value) else None


def _branch_of(ref: str | None) -> str | None:
    return ref.removeprefix("refs/heads/") if ref and ref.startswith("refs/heads/") else None


# ---------------------------------------------------------------------------- from GitHub


def _api_url_for(server_url: str) -> str:
    # GitHub Enterprise Server serves the REST API under /api/v3 of the same host.
    return GITHUB_API if server_url == GITHUB_SERVER else f"{server_url}/api/v3"


def _merge_base(
    git: GitReader | None, head: str, targets: list[str], later: str
) -> tuple[str | None, str | None]:
    """(merge-base, None), or (None, a note saying why it is unknown, then `later`)."""
    later = f" {later}" if later else ""
    if git is None:
        return None, f"merge-base unknown: no local git checkout.{later}"
    if not targets:
        return None, f"merge-base unknown: no base branch to compute it against.{later}"
    try:
        if not git.is_repo():
            return None, f"merge-base unknown: the workspace is not a git checkout.{later}"
    except GitError as exc:
        return None, f"merge-base unknown: {exc}.{later}"
    failure: str | None = None
    for target in targets:
        try:
            found = git.merge_base(head, target)
        except GitError as exc:
            failure = failure or str(exc)
            continue
        if found:
            return found, None
    try:
        shallow = git.is_shallow()
    except GitError:
        shallow = False
    if shallow and (failure is None or "shallow" not in failure):
        failure = (
            "the checkout is shallow (actions/checkout fetches one commit unless `fetch-depth: 0`)"
        )
    return None, f"merge-base unknown: {failure or 'the histories do not meet'}.{later}"


def _dependabot(*logins: str | None) -> bool:
    return DEPENDABOT in logins


@dataclass
class _EventFacts:
    """What one event kind contributes; `extra` holds the CIContext fields it decides."""

    head_sha: str
    branch: str | None
    base_branch: str | None
    extra: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _pull_request(
    event: str, env: Mapping[str, str], payload: Mapping[str, Any], repository: str | None
) -> _EventFacts:
    pr = payload.get("pull_request")
    if not isinstance(pr, Mapping):
        raise _missing(
            event,
            "pull_request",
            "driftgate takes the PR's head commit from it (GITHUB_SHA is a temporary "
            "merge commit on this event and is never used); check GITHUB_EVENT_PATH",
        )
    head_sha = _sha(
        _str(pr, "head.sha"),
        f"the {event} event payload's `pull_request.head.sha` (the PR's head commit; "
        "GITHUB_SHA is a temporary merge commit here and is never used)",
    )
    base = _str(pr, "base.ref") or env.get("GITHUB_BASE_REF") or None
    if base is None:
        raise _missing(event, "pull_request.base.ref", "it names the branch to compare against")
    number = _int(payload.get("number")) or _int(pr.get("number"))
    if number is None:
        raise _missing(event, "number", "the PR number says where to comment")
    facts = _EventFacts(head_sha, _str(pr, "head.ref") or env.get("GITHUB_HEAD_REF") or None, base)
    base_repo = _str(pr, "base.repo.full_name") or repository
    head_repo = _str(pr, "head.repo.full_name")
    if head_repo is None:
        facts.notes.append("the PR's head repository is gone (deleted fork): treated as a fork")
    is_fork = head_repo is None or head_repo != base_repo
    facts.extra.update(
        pr_number=number,
        is_fork=is_fork,
        head_repository=head_repo,
        base_sha=_optional_sha(_str(pr, "base.sha")),
    )
    # pull_request_target runs in the base repository with its token, fork or not.
    if event == "pull_request" and is_fork:
        facts.extra.update(
            read_only=True, read_only_reason="a pull request from a fork gets a read-only token"
        )
    elif event == "pull_request" and _dependabot(
        env.get("GITHUB_ACTOR"), _str(payload, "sender.login"), _str(pr, "user.login")
    ):
        facts.extra.update(
            read_only=True, read_only_reason="Dependabot pull requests get a read-only token"
        )
    return facts


def _merge_group(payload: Mapping[str, Any]) -> _EventFacts:
    group = payload.get("merge_group")
    if not isinstance(group, Mapping):
        raise _missing("merge_group", "merge_group", "it holds the group's head commit and base")
    head_sha = _sha(
        _str(group, "head_sha"), "the merge_group event payload's `merge_group.head_sha`"
    )
    base = _branch_of(_str(group, "base_ref"))
    if base is None:
        raise _missing(
            "merge_group", "merge_group.base_ref", "it names the branch the group merges into"
        )
    # A group may hold several PRs: no single PR number.
    facts = _EventFacts(head_sha, _branch_of(_str(group, "head_ref")), base)
    facts.extra.update(base_sha=_optional_sha(_str(group, "base_sha")))
    return facts


def _workflow_run(
    payload: Mapping[str, Any], repository: str | None, default_branch: str | None
) -> _EventFacts:
    run = payload.get("workflow_run")
    if not isinstance(run, Mapping):
        raise _missing(
            "workflow_run",
            "workflow_run",
            "it describes the run that triggered this one (its head commit and PR)",
        )
    head_sha = _sha(
        _str(run, "head_sha"), "the workflow_run event payload's `workflow_run.head_sha`"
    )
    branch = _str(run, "head_branch")
    triggering_event = _str(run, "event")
    head_repo = _str(run, "head_repository.full_name")
    prs = run.get("pull_requests")
    first = prs[0] if isinstance(prs, list) and prs and isinstance(prs[0], Mapping) else None
    facts = _EventFacts(head_sha, branch, (first and _str(first, "base.ref")) or default_branch)
    run_id = _int(run.get("id"))
    facts.extra.update(
        triggering_run_id=None if run_id is None else str(run_id),
        triggering_run_attempt=_int(run.get("run_attempt")),
        triggering_event=triggering_event,
        head_repository=head_repo or repository,
        is_fork=head_repo is not None and repository is not None and head_repo != repository,
    )
    if first is not None:
        facts.extra.update(
            pr_number=_int(first.get("number")), base_sha=_optional_sha(_str(first, "base.sha"))
        )
    elif triggering_event in PR_EVENTS:
        facts.notes.append(
            "workflow_run names no pull request (GitHub leaves `pull_requests` empty for PRs "
            "from forks): the PR number comes from the PR run's artifact, or from the open PR "
            f"whose head is {head_repo or '<fork>'}:{branch or '<branch>'}; the base branch "
            "is taken to be the default branch"
        )
    return facts


def _branch_event(
    event: str,
    env: Mapping[str, str],
    payload: Mapping[str, Any],
    default_branch: str | None,
) -> _EventFacts:
    head_sha = _sha(
        env.get("GITHUB_SHA") or _str(payload, "after"),
        f"GITHUB_SHA (the commit of this {event})",
    )
    ref = env.get("GITHUB_REF") or _str(payload, "ref")
    facts = _EventFacts(head_sha, _branch_of(ref), default_branch)
    if facts.branch is None:
        facts.notes.append(f"GITHUB_REF is {ref!r}, not a branch: the run has no branch")
    if event == "push" and _dependabot(env.get("GITHUB_ACTOR"), _str(payload, "sender.login")):
        facts.extra.update(
            read_only=True, read_only_reason="runs triggered by Dependabot get a read-only token"
        )
    return facts


def _required_env(env: Mapping[str, str], name: str, default: str | None = None) -> str:
    value = env.get(name) or default
    if not value:
        raise ContextError(
            f"{name} is not set: the runner sets it in every job; {_OUTSIDE_ACTIONS}"
        )
    return value


def from_github_event(
    env: Mapping[str, str],
    payload: Mapping[str, Any],
    git: GitReader | None = None,
    *,
    workspace: str = ".",
    base_branch: str | None = None,
) -> CIContext:
    """The context of a GitHub Actions run, from its environment and event payload.

    `git` reads the checkout for the merge-base only (None: no checkout). `base_branch`
    overrides the branch to compare against (the action's `baseline-branch` input).
    """
    event = _required_env(env, "GITHUB_EVENT_NAME")
    if event not in SUPPORTED_EVENTS:
        raise ContextError(
            f"the {event!r} event is not supported: driftgate runs on "
            f"{', '.join(SUPPORTED_EVENTS)} (use workflow_dispatch for manual runs)"
        )
    run_id = _required_env(env, "GITHUB_RUN_ID")
    run_attempt = _int(_required_env(env, "GITHUB_RUN_ATTEMPT", "1"))
    if run_attempt is None or run_attempt < 1:
        raise ContextError(
            f"GITHUB_RUN_ATTEMPT is {env.get('GITHUB_RUN_ATTEMPT')!r}, not a positive number"
        )
    repository = env.get("GITHUB_REPOSITORY") or _str(payload, "repository.full_name")
    server_url = (env.get("GITHUB_SERVER_URL") or GITHUB_SERVER).rstrip("/")

    notes: list[str] = []
    default_branch = _str(payload, "repository.default_branch")
    if default_branch is None and event == "schedule":
        # Scheduled workflows run on the default branch, and their payload names no repo.
        default_branch = _branch_of(env.get("GITHUB_REF"))
    if default_branch is None and git is not None:
        try:
            default_branch = git.default_branch() if git.is_repo() else None
        except GitError:
            default_branch = None
        if default_branch:
            notes.append(
                f"the event payload names no default branch; local git says {default_branch}"
            )

    if event in PR_EVENTS:
        facts = _pull_request(event, env, payload, repository)
    elif event == "merge_group":
        facts = _merge_group(payload)
    elif event == "workflow_run":
        facts = _workflow_run(payload, repository, default_branch)
    else:
        facts = _branch_event(event, env, payload, default_branch)
    notes += facts.notes
    extra: dict[str, Any] = {"head_repository": repository, "base_sha": None, **facts.extra}

    chosen_base = base_branch or facts.base_branch
    if base_branch and facts.base_branch and base_branch != facts.base_branch:
        notes.append(f"comparing against {base_branch} (configured) instead of {facts.base_branch}")
        extra["base_sha"] = None  # it was the other branch's
    if chosen_base is None:
        notes.append(
            "no base branch: the event names none and the default branch is unknown; "
            "configure the baseline branch"
        )
    pushed = event in BRANCH_EVENTS or extra.get("triggering_event") == "push"
    on_base = pushed and facts.branch is not None and facts.branch == chosen_base
    if on_base and event == "push":
        extra["base_sha"] = _optional_sha(_str(payload, "before"))

    # The payload's base sha first (exact); the branch refs when the sha is not fetched.
    targets = [extra["base_sha"]] if extra["base_sha"] else []
    if chosen_base:
        targets += [f"origin/{chosen_base}", chosen_base]
    merge_base, note = _merge_base(
        git,
        facts.head_sha,
        targets,
        "The event payload does not carry it either.",
    )
    if note:
        notes.append(note)

    return CIContext(
        event_name=event,
        head_sha=facts.head_sha,
        branch=facts.branch,
        base_branch=chosen_base,
        merge_base=merge_base,
        default_branch=default_branch,
        pr_number=extra.pop("pr_number", None),
        is_fork=extra.pop("is_fork", False),
        read_only=extra.pop("read_only", False),
        read_only_reason=extra.pop("read_only_reason", None),
        actor=env.get("GITHUB_ACTOR") or _str(payload, "sender.login"),
        run_id=run_id,
        run_attempt=run_attempt,
        repository=repository,
        repository_url=f"{server_url}/{repository}" if repository else None,
        server_url=server_url,
        api_url=(env.get("GITHUB_API_URL") or _api_url_for(server_url)).rstrip("/"),
        workspace=env.get("GITHUB_WORKSPACE") or workspace,
        on_base_branch=on_base,
        notes=tuple(notes),
        **extra,
    )


# ---------------------------------------------------------------------------- local git


def local_run_id(now: datetime) -> str:
    """`local-YYYYMMDDTHHMMSS.ffffffZ` in UTC: fixed width, so names sort in time order, and
    to the microsecond, so two runs do not collide. A naive `now` is taken as UTC."""
    utc = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    return "local-" + utc.strftime("%Y%m%dT%H%M%S.%fZ")


def from_local_git(
    git: GitReader, *, workspace: str, now: datetime, base_branch: str | None = None
) -> CIContext:
    """The context of a run outside GitHub Actions: HEAD of the checkout, its branch, and the
    remote's default branch (or `base_branch`) as the base."""
    try:
        if not git.is_repo():
            raise ContextError(
                f"{workspace} is not inside a git repository: outside GitHub Actions driftgate "
                "takes the commit from local git; run it in your project's checkout"
            )
        head_sha = git.head_sha()
        branch = git.current_branch()
        default_branch = git.default_branch()
        remote = git.remote_url()
    except NoCommits as exc:
        raise ContextError(f"{exc}: driftgate records results per commit") from None
    except GitError as exc:
        raise ContextError(str(exc)) from None

    notes: list[str] = []
    if branch is None:
        notes.append("HEAD is detached: the run has no branch")
    chosen_base = base_branch or default_branch
    if chosen_base is None:
        notes.append(
            "no base branch: origin/HEAD, main and master are all missing; "
            "configure the baseline branch"
        )
    targets = [chosen_base, f"origin/{chosen_base}"] if chosen_base else []
    merge_base, note = _merge_base(git, head_sha, targets, "")
    if note:
        notes.append(note)

    server_url, api_url, repository = GITHUB_SERVER, GITHUB_API, None
    if remote:
        parts = urlsplit(remote)
        server_url = f"{parts.scheme}://{parts.netloc}"
        api_url = _api_url_for(server_url)
        repository = parts.path.strip("/") or None
    return CIContext(
        event_name=LOCAL_EVENT,
        head_sha=head_sha,
        branch=branch,
        base_branch=chosen_base,
        base_sha=None,
        merge_base=merge_base,
        default_branch=default_branch,
        pr_number=None,
        is_fork=False,
        read_only=False,
        read_only_reason=None,
        head_repository=repository,
        actor=None,
        run_id=local_run_id(now),
        run_attempt=1,
        triggering_run_id=None,
        triggering_run_attempt=None,
        triggering_event=None,
        repository=repository,
        repository_url=remote,
        server_url=server_url,
        api_url=api_url,
        workspace=workspace,
        on_base_branch=branch is not None and branch == chosen_base,
        notes=tuple(notes),
    )


def build_context(
    env: Mapping[str, str],
    git: GitReader | None,
    *,
    workspace: str,
    now: datetime,
    base_branch: str | None = None,
    read_event: Callable[[str | None], Mapping[str, Any]] = read_event_payload,
) -> CIContext:
    """From the event payload inside GitHub Actions (`GITHUB_ACTIONS=true`), else from git."""
    if env.get("GITHUB_ACTIONS") == "true":
        payload = read_event(env.get("GITHUB_EVENT_PATH"))
        return from_github_event(env, payload, git, workspace=workspace, base_branch=base_branch)
    if git is None:
        raise ContextError(
            "outside GitHub Actions driftgate reads the context from local git, "
            "and no git checkout was given"
        )
    return from_local_git(git, workspace=workspace, now=now, base_branch=base_branch)


# ------------------------------------------------------- what the user's command receives


def experiment_name(ctx: CIContext, pipeline: str) -> str:
    """`<pipeline>-<run-id>`, plus `-<attempt>` on a re-run so that re-runs do not collide."""
    name = f"{pipeline}-{ctx.run_id}"
    return f"{name}-{ctx.run_attempt}" if ctx.run_attempt > 1 else name


def recorded_branch(ctx: CIContext) -> str | None:
    """The branch as recorded on the experiment: `owner:branch` for a fork PR (GitHub's head
    label), since a fork's `main` is not ours and must never pass for a base-branch run when
    baselines are matched by branch."""
    if ctx.is_fork and ctx.branch and ctx.head_repository and "/" in ctx.head_repository:
        return f"{ctx.head_repository.split('/', 1)[0]}:{ctx.branch}"
    if ctx.is_fork and ctx.branch:
        return f"fork:{ctx.branch}"
    return ctx.branch


def metadata(ctx: CIContext, pipeline: str) -> dict[str, Any]:
    """`DRIFTGATE_METADATA`: every key always present, null when unknown."""
    return {
        "commit": ctx.head_sha,
        "branch": recorded_branch(ctx),
        "base_branch": ctx.base_branch,
        "pr": ctx.pr_number,
        "run_id": ctx.run_id,
        "run_attempt": ctx.run_attempt,
        "repository": ctx.repository,
        "pipeline": pipeline,
    }


def tags(ctx: CIContext, pipeline: str) -> dict[str, str]:
    """`DRIFTGATE_TAGS`, for ddtrace's `tags=`: strings only, absent values left out. The
    commit is not here: ddtrace tags it itself from `DD_GIT_COMMIT_SHA`."""
    values: dict[str, str | int | None] = {
        "git.branch": recorded_branch(ctx),
        "git.base_branch": ctx.base_branch,
        "ci.pipeline": pipeline,
        "ci.run_id": ctx.run_id,
        "ci.run_attempt": ctx.run_attempt,
        "ci.pr": ctx.pr_number,
        "ci.event": ctx.event_name,
    }
    return {key: str(value) for key, value in values.items() if value is not None}


def command_env(ctx: CIContext, pipeline: str) -> dict[str, str]:
    """The variables added to the user's command's environment (the README's "What the command
    receives"). The caller merges them over the parent's environment, plus the store's
    variables when it uses one."""
    if not pipeline:
        raise ValueError("the pipeline name must not be empty")
    env = {
        "DD_GIT_COMMIT_SHA": ctx.head_sha,
        "DRIFTGATE_PIPELINE": pipeline,
        "DRIFTGATE_EXPERIMENT_NAME": experiment_name(ctx, pipeline),
        "DRIFTGATE_METADATA": json.dumps(metadata(ctx, pipeline)),
        "DRIFTGATE_TAGS": json.dumps(tags(ctx, pipeline)),
    }
    # Without a remote there is no URL to give; ddtrace then asks git itself.
    if ctx.repository_url:
        env["DD_GIT_REPOSITORY_URL"] = ctx.repository_url
    return env
