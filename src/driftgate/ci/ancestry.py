"""Which commits' runs may serve as the baseline, and where that list came from.

The list is the merge-base and its first-parent ancestors, newest first; on the base branch
itself, the head's first-parent ancestors without the head. Local git gives it when the
checkout holds the history. When it does not (no checkout, a shallow clone, a merge-base
git cannot compute), GitHub's REST API does (`github_ancestry.py`): `fetch-depth: 0` saves
the requests, nothing more. Whichever way it went is said in `Ancestry.notes`, for the log
and the report; when neither could give it, the note says that baselines fall back to the
base branch's newest run, and what fixes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from driftgate.ci.context import CIContext
from driftgate.ci.git import GitError

if TYPE_CHECKING:
    from driftgate.ci.github_ancestry import GitHubHistory

_FIX = (
    "set `fetch-depth: 0` on actions/checkout, or give driftgate a token with "
    "`contents: read`, so that baselines are matched by commit"
)


class HistoryGit(Protocol):
    """What the history needs from local git (`driftgate.ci.git.GitRepo`); raises `GitError`."""

    def is_repo(self) -> bool: ...
    def is_shallow(self) -> bool: ...
    def first_parent_ancestors(self, sha: str, limit: int) -> list[str]: ...


@dataclass(frozen=True)
class Ancestry:
    shas: tuple[str, ...] = ()
    """The commits whose runs may be the baseline, nearest first (`baselines.resolve`'s
    `ancestors`)."""
    notes: tuple[str, ...] = ()
    """What was done to get them, when it was not plain local git."""


OpenHistory = Callable[[str, str, str], "GitHubHistory"]
"""(api_url, token, repository) -> a reader; tests give one with a policy of their own."""


def baseline_ancestry(
    ctx: CIContext,
    git: HistoryGit | None,
    *,
    limit: int,
    token: str | None,
    api_url: str | None = None,
    open_history: OpenHistory | None = None,
) -> Ancestry:
    """The baseline's candidate commits for `ctx`, from local git, else from GitHub's API at
    `api_url` (default `ctx.api_url`) with `token` (`open_history`, by default
    `GitHubHistory`)."""
    on_base = ctx.on_base_branch
    start = ctx.head_sha if on_base else ctx.merge_base
    local, missing = _from_git(git, start, limit)
    if missing is None:
        return Ancestry(_drop_head(local, on_base))
    # httpx, with GitHub's reader: imported only for a checkout that lacks the history.
    from driftgate.ci.github_ancestry import GitHubHistory, HistoryUnavailable

    fallback = (
        f"baselines are matched by the newest run on {ctx.base_branch or 'the base branch'} "
        f"instead; {_FIX}"
    )
    if not token or not ctx.repository:
        why = (
            "no GitHub token (the Action's github-token input; GITHUB_TOKEN for driftgate run)"
            if not token
            else "no repository"
        )
        note = f"{missing}, and {why} to read the history from GitHub's API: "
        kept = _drop_head(local, on_base)
        return Ancestry(kept, (note + _searched(kept, fallback),))
    opened = (open_history or GitHubHistory)(api_url or ctx.api_url, token, ctx.repository)
    with opened as github:
        compared = None
        if start is None:
            compared = ctx.base_sha or ctx.base_branch
            if compared is None:
                note = f"{missing}, and no base branch to compare the head with: {fallback}"
                return Ancestry((), (note,))
            try:
                start = github.merge_base(compared, ctx.head_sha)
            except HistoryUnavailable as exc:
                note = f"{missing}; GitHub's API could not give the merge-base: {exc}; {fallback}"
                return Ancestry((), (note,))
        # A shallow clone's list ends at its boundary commit: the API goes on from there.
        resume = local[-1] if local else start
        try:
            chain = github.first_parents(resume, limit - max(len(local) - 1, 0))
        except HistoryUnavailable as exc:
            kept = _drop_head(local or (start,), on_base)
            note = f"{missing}; GitHub's API could not list the ancestors: {exc}; "
            return Ancestry(kept, (note + _searched(kept, fallback),))
    shas = _drop_head((*local[:-1], *chain.shas), on_base)
    if on_base:
        read = f"the head's {_ancestors(len(shas))}"
    else:
        read = f"the merge-base {start[:12]} and its {_ancestors(len(shas) - 1)}"
    how = "the commits listing"
    if compared is not None:
        how = f"compare {_ref(compared)}...{ctx.head_sha[:12]}, then {how}"
    note = f"{missing}: {read} were read from GitHub's API ({how})"
    if chain.cut:
        note += f"; the walk stopped early ({chain.cut}), older commits are not searched"
    return Ancestry(shas, (note,))


def _from_git(
    git: HistoryGit | None, start: str | None, limit: int
) -> tuple[tuple[str, ...], str | None]:
    """(what local git holds, None) when that is the whole list; else (what it holds, why
    that is not all of it)."""
    if git is None:
        return (), "no local git checkout"
    try:
        if not git.is_repo():
            return (), "the workspace is not a git checkout"
        if start is None:
            shallow = git.is_shallow()
            return (
                (),
                f"{'the shallow clone' if shallow else 'local git'} cannot compute the merge-base",
            )
        shas = tuple(git.first_parent_ancestors(start, limit))
        if len(shas) < limit and git.is_shallow():
            return shas, f"the shallow clone holds {_commits(len(shas))} of {start[:12]}'s history"
    except GitError as exc:
        return (), f"local git cannot read the history ({exc})"
    return shas, None


def _commits(count: int) -> str:
    return f"{count} commit{'' if count == 1 else 's'}"


def _ancestors(count: int) -> str:
    return f"{count} first-parent ancestor{'' if count == 1 else 's'}"


def _drop_head(shas: tuple[str, ...], on_base: bool) -> tuple[str, ...]:
    # On the base branch the head is the candidate itself, not a baseline.
    return shas[1:] if on_base else shas


def _ref(ref: str) -> str:
    return ref[:12] if len(ref) >= 40 else ref


def _searched(kept: tuple[str, ...], fallback: str) -> str:
    if not kept:
        return fallback
    if len(kept) == 1:
        return f"only {kept[0][:12]} is searched, then {fallback}"
    return f"only the {len(kept)} commits from {kept[0][:12]} back are searched, then {fallback}"
