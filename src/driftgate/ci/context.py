"""The CI context: which commit this run gates, against which base, for which pull request.

Built by pure functions from what the caller hands in: the environment (a mapping), the
parsed GitHub event payload (a dict) and a git reader (the `GitReader` protocol;
`driftgate.ci.git.GitRepo` in production, a fake in tests). Only `read_event_payload` touches
the file system, and `build_context` is the one place that picks the source.

Which commit, per event (GitHub's rules, see the Actions reference):
- `pull_request`, `pull_request_target`: `pull_request.head.sha`, never `GITHUB_SHA`, which
  there is a temporary merge commit that no check or status on the PR would show on.
- `merge_group`: `merge_group.head_sha`; base `merge_group.base_ref` / `base_sha`.
- `workflow_run`: `workflow_run.head_sha`; the PR from `workflow_run.pull_requests`, only
  entries whose base repository is this one (GitHub lists there the PRs of every repository
  whose head is the run's branch, and names their repositories by id and API URL only).
- `push`, `workflow_dispatch`, `schedule`: `GITHUB_SHA`, the branch from `GITHUB_REF`.
- a `push` that deleted its ref (`deleted: true`, `after` 000…): nothing to gate. GitHub then
  sets `GITHUB_SHA` and `GITHUB_REF` to the default branch's tip, which must not be recorded
  as a baseline: `nothing_to_gate` says why, and the entry points run nothing and exit 0.
- outside GitHub Actions: local git (HEAD, the current branch, origin's default branch).

The commit checked out (git HEAD, `checkout_sha`) is what the command runs. It is not always
the commit the run is recorded for: `pull_request_target` and `workflow_run` check out the
base (default) branch's tip by default. When HEAD is neither the commit under test nor, for
`pull_request`, GitHub's merge commit of it, a note says so loudly, with the fix and, where
the fix runs a PR's code with a write token, the caveat.

Fallbacks, each recorded in `CIContext.notes` so the report can say it:
- The merge-base is not in any payload: it comes from local git when the checkout has the
  history (actions/checkout with `fetch-depth: 0`), else it is None here, with a note saying
  why; `ci/ancestry.py` then asks GitHub's API for it, and says how that went.
- `workflow_run` for a PR from a fork: GitHub sends an empty `pull_requests` list, so the PR
  number is None and the base branch is taken to be the default branch; `driftgate publish`
  looks up the open PR of this repository whose head is `<head_repository owner>:<branch>`.
- `push` / `workflow_dispatch` payloads with keys missing: `GITHUB_SHA` and `GITHUB_REF` are
  enough; the default branch then comes from local git.
- Read-only runs: only what the payload proves, a `pull_request` from a fork (GitHub gives
  it a read-only token, whatever the workflow's `permissions:` say). Who opened the PR does
  not decide it: Dependabot's runs get whatever `permissions:` grants, and a write that is
  refused falls back to the artifact (action/main.py). `pull_request_target`, `merge_group`
  and `workflow_run` run with the base repository's token and are never read-only.
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
GITHUB_SERVER = "https://github.com"
GITHUB_API = "https://api.github.com"

_SHA = re.compile(r"^[0-9a-f]{40}(?:[0-9a-f]{24})?$")
_NULL_SHA = re.compile(r"^0+$")
_NO_COMMIT = "0" * 40
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
    """The payload proves this run's token cannot write (a fork PR under `pull_request`):
    report through the artifact and `driftgate publish`."""
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
    checkout_sha: str | None = None
    """The commit checked out in the workspace (git HEAD): the code the command runs. None
    without a readable checkout. A note says so when it is not the commit under test."""
    dirty: bool = False
    """The checkout has uncommitted changes to tracked files: the command does not run the
    commit it is recorded for. Set by the session (`ci/git.py` `changed_files`); such runs
    are tagged `git.dirty:true` and never taken as a baseline unless named."""
    nothing_to_gate: str | None = None
    """Why this run has nothing to gate (a push that deleted its ref), in words for a
    notice; None for every run that gates or records. When set, nothing may run."""

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


def _pr_number(value: Any) -> int | None:
    number = _int(value)
    return number if number is not None and number > 0 else None


def _missing(event: str, dotted: str, why: str) -> ContextError:
    return ContextError(f"the {event} event payload has no `{dotted}`: {why}")


def _sha(value: str | None, source: str) -> str:
    if value is None:
        raise ContextError(f"{source} is missing")
    if not _SHA.match(value):
        raise ContextError(f"{source} is {value!r}, not a full commit sha")
    if _NULL_SHA.match(value):
        raise ContextError(f"{source} is {value[:7]}…, which names no commit")
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
    number = _pr_number(payload.get("number")) or _pr_number(pr.get("number"))
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
    # pull_request_target runs in the base repository with its token, fork or not. Nothing
    # else is known read-only in advance (Dependabot's token is what `permissions:` grants).
    if event == "pull_request" and is_fork:
        facts.extra.update(
            read_only=True, read_only_reason="a pull request from a fork gets a read-only token"
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


def _same_repository(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool | None:
    """Whether two payload repositories are one: by id, else by `full_name` (GitHub's names
    are case-insensitive); None when neither pair is known."""
    ids = _int(a.get("id")), _int(b.get("id"))
    if None not in ids:
        return ids[0] == ids[1]
    names = _str(a, "full_name"), _str(b, "full_name")
    if names[0] is not None and names[1] is not None:
        return names[0].lower() == names[1].lower()
    return None


def own_pull_requests(
    payload: Mapping[str, Any], repository: str | None, api_url: str
) -> list[Mapping[str, Any]]:
    """The entries of `workflow_run.pull_requests` whose base repository is this one.

    GitHub lists there the open PRs, in any repository, whose head is the run's branch (a
    PR from this repository's branch into its upstream is listed in a fork's run), and
    names their repositories by `id`, `url` (the API's) and `name` only, never `full_name`.
    This repository is the payload's `repository` (its `id`, else its `url`), else
    `GITHUB_REPOSITORY` under `api_url`."""
    run = payload.get("workflow_run")
    entries = run.get("pull_requests") if isinstance(run, Mapping) else None
    if not isinstance(entries, list):
        return []
    our_id = _int(_dig(payload, "repository.id"))
    our_urls = {
        url.rstrip("/").lower()
        for url in (
            _str(payload, "repository.url"),
            f"{api_url}/repos/{repository}" if repository else None,
        )
        if url
    }

    def ours(entry: Mapping[str, Any]) -> bool:
        base_id = _int(_dig(entry, "base.repo.id"))
        if our_id is not None and base_id is not None:
            return base_id == our_id
        url = _str(entry, "base.repo.url")
        return url is not None and url.rstrip("/").lower() in our_urls

    return [entry for entry in entries if isinstance(entry, Mapping) and ours(entry)]


def _workflow_run(
    payload: Mapping[str, Any], repository: str | None, default_branch: str | None, api_url: str
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
    head = run.get("head_repository")
    head_repo = _str(run, "head_repository.full_name")
    ours = own_pull_requests(payload, repository, api_url)
    # Of this repository's PRs on that branch, the one at the run's commit.
    pr = next((p for p in ours if _str(p, "head.sha") == head_sha), ours[0] if ours else None)
    facts = _EventFacts(head_sha, branch, (pr and _str(pr, "base.ref")) or default_branch)
    run_id = _int(run.get("id"))
    # A fork PR's run happens in this repository with the fork as its head repository.
    where = run.get("repository")
    if not isinstance(where, Mapping) or _str(where, "full_name") is None:
        where = {"full_name": repository}
    same = _same_repository(head, where) if isinstance(head, Mapping) else None
    facts.extra.update(
        triggering_run_id=None if run_id is None else str(run_id),
        triggering_run_attempt=_int(run.get("run_attempt")),
        triggering_event=triggering_event,
        head_repository=head_repo or repository,
        is_fork=same is False,
    )
    listed = run.get("pull_requests")
    others = len(listed) - len(ours) if isinstance(listed, list) else 0
    if pr is not None:
        facts.extra.update(
            pr_number=_pr_number(pr.get("number")), base_sha=_optional_sha(_str(pr, "base.sha"))
        )
    elif others:
        facts.notes.append(
            f"workflow_run lists {others} pull request{'s' if others > 1 else ''} of other "
            "repositories only (PRs whose base is not this repository are ignored): this run "
            "has no pull request here; the base branch is taken to be the default branch"
        )
    elif triggering_event in PR_EVENTS:
        facts.notes.append(
            "workflow_run names no pull request (GitHub leaves `pull_requests` empty for PRs "
            "from forks): `driftgate publish` looks up the open PR of this repository whose "
            f"head is {head_repo or '<fork>'}:{branch or '<branch>'}; the base branch is "
            "taken to be the default branch"
        )
    return facts


def _branch_event(
    event: str,
    env: Mapping[str, str],
    payload: Mapping[str, Any],
    default_branch: str | None,
) -> _EventFacts:
    if event == "push" and _deleted(payload):
        return _deleted_ref(env, payload, default_branch)
    head_sha = _sha(
        env.get("GITHUB_SHA") or _str(payload, "after"),
        f"GITHUB_SHA (the commit of this {event})",
    )
    ref = env.get("GITHUB_REF") or _str(payload, "ref")
    facts = _EventFacts(head_sha, _branch_of(ref), default_branch)
    if facts.branch is None:
        facts.notes.append(f"GITHUB_REF is {ref!r}, not a branch: the run has no branch")
    return facts


def _deleted(payload: Mapping[str, Any]) -> bool:
    after = _str(payload, "after")
    return payload.get("deleted") is True or (after is not None and bool(_NULL_SHA.match(after)))


def _deleted_ref(
    env: Mapping[str, str], payload: Mapping[str, Any], default_branch: str | None
) -> _EventFacts:
    """A push that deleted a branch or tag. GitHub still runs `on: push` workflows for it,
    with GITHUB_SHA and GITHUB_REF set to the default branch's tip: gating that would record
    the default branch as if it had been pushed. Nothing to gate; the commit named is only
    a label (the default tip GitHub checked out, else the deleted ref's last commit)."""
    ref = _str(payload, "ref")
    head_sha = (
        _optional_sha(env.get("GITHUB_SHA")) or _optional_sha(_str(payload, "before")) or _NO_COMMIT
    )
    facts = _EventFacts(head_sha, _branch_of(ref), default_branch)
    facts.extra["nothing_to_gate"] = (
        f"this push deleted {ref or 'a ref'} (`deleted: true`): there is no commit to gate "
        "and nothing to record as a baseline, so driftgate runs nothing. To skip such runs, "
        "give the job `if: ${{ !github.event.deleted }}`"
    )
    return facts


def _checkout(
    git: GitReader | None,
    event: str,
    head_sha: str,
    env: Mapping[str, str],
    triggering_event: str | None,
) -> tuple[str | None, str | None]:
    """(the checked-out commit, a warning when it is not the commit under test).

    The command runs HEAD's code; the results are recorded and reported for `head_sha`.
    Under `pull_request`, GitHub's merge commit of the head (GITHUB_SHA, actions/checkout's
    default) is the PR's code too. Unreadable checkouts give (None, None): the merge-base
    note already says why."""
    if git is None:
        return None, None
    try:
        checkout = git.head_sha() if git.is_repo() else None
    except GitError:
        return None, None
    if checkout is None or checkout == head_sha:
        return checkout, None
    if event == "pull_request" and checkout == env.get("GITHUB_SHA"):
        return checkout, None
    caveat = (
        "but know that this runs the pull request's code (a fork's too) with a token that can "
        "write and with this workflow's secrets: do it only for pull requests you trust; for "
        "the others, gate them under `pull_request` and publish with the publish workflow "
        "(see the README)"
    )
    if event == "pull_request_target":
        what = "the pull request's head"
        fix = (
            "On pull_request_target, actions/checkout checks out the base branch unless told "
            "otherwise. To gate the pull request, check out its head (actions/checkout with "
            f"`ref: ${{{{ github.event.pull_request.head.sha }}}}`), {caveat}."
        )
    elif event == "workflow_run":
        what = (
            "the pull request's head"
            if triggering_event in PR_EVENTS
            else "the triggering run's commit"
        )
        fix = (
            "On workflow_run, actions/checkout checks out the default branch's tip unless told "
            "otherwise. To gate the triggering run's commit, check it out (actions/checkout "
            f"with `ref: ${{{{ github.event.workflow_run.head_sha }}}}`), {caveat}."
        )
    else:
        what = "the commit this run is for"
        fix = "Check out that commit (actions/checkout's default `ref` does)."
    warning = (
        f"WARNING: the checkout is {checkout[:12]}, not {what} {head_sha[:12]}: the command "
        f"ran {checkout[:12]}'s code, yet its results are recorded and reported for "
        f"{head_sha[:12]}. {fix}"
    )
    return checkout, warning


def _required_env(env: Mapping[str, str], name: str, default: str | None = None) -> str:
    value = env.get(name) or default
    if not value:
        raise ContextError(
            f"{name} is not set: the runner sets it in every job; {_OUTSIDE_ACTIONS}"
        )
    return value


def _base_and_checkout(
    event: str,
    env: Mapping[str, str],
    payload: Mapping[str, Any],
    git: GitReader | None,
    facts: _EventFacts,
    extra: dict[str, Any],
    base_branch: str | None,
    notes: list[str],
) -> tuple[str | None, str | None, bool, str | None]:
    """The branch to compare against, the merge-base, whether the run is on the base branch
    itself, and the commit checked out; notes (and `extra["base_sha"]`) updated on the way."""
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
    checkout, warning = _checkout(git, event, facts.head_sha, env, extra.get("triggering_event"))
    if warning:
        notes.insert(0, warning)

    return chosen_base, merge_base, on_base, checkout


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
    api_url = (env.get("GITHUB_API_URL") or _api_url_for(server_url)).rstrip("/")

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
        facts = _workflow_run(payload, repository, default_branch, api_url)
    else:
        facts = _branch_event(event, env, payload, default_branch)
    notes += facts.notes
    extra: dict[str, Any] = {"head_repository": repository, "base_sha": None, **facts.extra}
    if extra.get("nothing_to_gate"):
        # Nothing will run: no merge-base to look for, no checkout to vouch for.
        chosen_base, merge_base, on_base, checkout = (
            base_branch or facts.base_branch,
            None,
            False,
            None,
        )
    else:
        chosen_base, merge_base, on_base, checkout = _base_and_checkout(
            event, env, payload, git, facts, extra, base_branch, notes
        )

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
        api_url=api_url,
        workspace=env.get("GITHUB_WORKSPACE") or workspace,
        on_base_branch=on_base,
        notes=tuple(notes),
        checkout_sha=checkout,
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
        "dirty": ctx.dirty,
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
        # Only when true: a clean run's tags stay as they were.
        "git.dirty": "true" if ctx.dirty else None,
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
