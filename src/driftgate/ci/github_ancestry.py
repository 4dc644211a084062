"""A repository's commit history read from GitHub's REST API, for checkouts that lack it.

actions/checkout fetches one commit unless told `fetch-depth: 0`, so local git can neither
compute a pull request's merge-base nor list its ancestors. GitHub can:
`GET /repos/{owner}/{repo}/compare/{base}...{head}` names the merge-base
(`merge_base_commit.sha`), and `GET /repos/{owner}/{repo}/commits?sha=X` lists X and its
ancestors, newest first, in pages (`Link: rel="next"`), each commit with its `parents`; the
first-parent chain is walked through them.

httpx, not PyGithub (which stays in `action/github.py`): the gate's session, shared by the
command line and the Action, is the caller. Every request carries the token to the API's own
origin only. A small budget bounds it all (requests, retries, seconds waited); whatever goes
wrong is `HistoryUnavailable`, whose message is one line naming what GitHub said and the fix,
never the token: the caller turns it into a note, never a crash.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from driftgate import __version__

_SHA = re.compile(r"^[0-9a-f]{40}(?:[0-9a-f]{24})?$")
PER_PAGE = 100
"""GitHub's largest page."""
_RETRIED = frozenset({429, 500, 502, 503, 504})


class HistoryUnavailable(Exception):
    """GitHub could not give the history; the message says why in one line, and the fix."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class HistoryPolicy:
    """How much one lookup may cost. `sleep` is injectable so that tests wait for nothing."""

    max_requests: int = 12
    """Every request counts, retries included: a compare and eleven pages of 100 commits."""
    attempts: int = 3
    """Tries per request on 429, 5xx, a secondary rate limit or no answer."""
    base_delay: float = 0.5
    max_wait: float = 20.0
    """Seconds slept in all, over the whole lookup: a gate is not held up for a history."""
    timeout: float = 15.0
    """Seconds per request."""
    max_seconds: float = 60.0
    """The whole lookup, waits and slow answers included."""
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)


@dataclass(frozen=True)
class Chain:
    """A commit and its first-parent ancestors, newest first."""

    shas: tuple[str, ...]
    cut: str | None = None
    """Why the walk stopped before the limit and before the root commit; None when it did
    not."""


def _one_line(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class GitHubHistory:
    """Reads one repository's history: `merge_base` and `first_parents`."""

    def __init__(
        self,
        api_url: str,
        token: str,
        repository: str,
        *,
        policy: HistoryPolicy | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        self.policy = policy or HistoryPolicy()
        self.repository = repository
        self._api = api_url.rstrip("/")
        origin = urlsplit(self._api)
        self._origin = (origin.scheme, origin.netloc)
        self._http = http or httpx.Client(timeout=self.policy.timeout)
        self._headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": f"driftgate/{__version__}",
            "Authorization": f"Bearer {token}",
        }
        self.requests = 0
        self._waited = 0.0
        self._started = self.policy.clock()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GitHubHistory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what the gate asks --------------------------------------------------------------------

    def merge_base(self, base: str, head: str) -> str:
        """The merge-base of `base` (a branch or a sha) and `head`, as GitHub computes it."""
        what = f"the comparison {base}...{head[:12]}"
        # per_page=1: the merge-base is all we read, not the commits between.
        path = f"/repos/{self.repository}/compare/{quote(base, safe='/')}...{quote(head)}"
        body = self._get_json(self._api + path, {"per_page": "1"}, what)
        merge_base = body.get("merge_base_commit") if isinstance(body, Mapping) else None
        sha = merge_base.get("sha") if isinstance(merge_base, Mapping) else None
        if not isinstance(sha, str) or not _SHA.match(sha):
            raise HistoryUnavailable(
                f"GitHub answered {what} without a `merge_base_commit.sha`; is {self._api} "
                "GitHub's REST API?"
            )
        return sha

    def first_parents(self, start: str, limit: int) -> Chain:
        """`start` and its first-parent ancestors, newest first, at most `limit`.

        The commits listing holds every ancestor (the merged branches' too), in GitHub's
        order; the chain is walked through it along `parents[0]`. When the commit awaited is
        not on the page that followed (a long-lived branch's commits in between), the next
        request lists from that commit itself, which always starts with it. Raises
        `HistoryUnavailable` only when not even `start` could be read; a walk cut short later
        returns what it has, with the reason.
        """
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        first_parent: dict[str, str | None] = {}
        chain: list[str] = []
        current: str | None = start
        next_url: str | None = None
        follow = False
        while current is not None and len(chain) < limit:
            if current in first_parent:
                chain.append(current)
                current = first_parent[current]
                follow = True  # progress: the next page is worth reading
                continue
            try:
                if follow and next_url:
                    page, next_url = self._page(next_url, None, current)
                else:
                    params = {"sha": current, "per_page": str(PER_PAGE)}
                    url = f"{self._api}/repos/{self.repository}/commits"
                    page, next_url = self._page(url, params, current)
                    if not page or page[0][0] != current:
                        raise HistoryUnavailable(
                            f"GitHub's commit listing from {current[:12]} does not start with it"
                        )
            except HistoryUnavailable as exc:
                if not chain:
                    raise
                return Chain(tuple(chain), str(exc))
            follow = False
            for sha, parent in page:
                first_parent.setdefault(sha, parent)
        return Chain(tuple(chain))

    # -- requests ----------------------------------------------------------------------------

    def _page(
        self, url: str, params: dict[str, str] | None, awaited: str
    ) -> tuple[list[tuple[str, str | None]], str | None]:
        what = f"the commits of {self.repository} from {awaited[:12]}"
        response = self._get(url, params, what)
        body = _json(response, what)
        if not isinstance(body, list):
            raise HistoryUnavailable(f"GitHub answered {what} with something else than a list")
        page: list[tuple[str, str | None]] = []
        for item in body:
            sha = item.get("sha") if isinstance(item, Mapping) else None
            parents = item.get("parents") if isinstance(item, Mapping) else None
            if not isinstance(sha, str) or not _SHA.match(sha) or not isinstance(parents, list):
                raise HistoryUnavailable(f"GitHub answered {what} with an entry that is no commit")
            first = parents[0].get("sha") if parents and isinstance(parents[0], Mapping) else None
            page.append((sha, first if isinstance(first, str) and _SHA.match(first) else None))
        next_url = response.links.get("next", {}).get("url")
        if next_url and self._same_origin(next_url):
            return page, next_url
        return page, None

    def _same_origin(self, url: str) -> bool:
        # The token goes to the API's own origin only, whatever a Link header says.
        parts = urlsplit(url)
        return (parts.scheme, parts.netloc) == self._origin

    def _get_json(self, url: str, params: dict[str, str] | None, what: str) -> Any:
        return _json(self._get(url, params, what), what)

    def _get(self, url: str, params: dict[str, str] | None, what: str) -> httpx.Response:
        policy = self.policy
        last = ""
        for attempt in range(policy.attempts):
            if self.requests >= policy.max_requests:
                raise HistoryUnavailable(
                    f"stopped after {self.requests} requests to GitHub's API, this lookup's budget"
                )
            left = policy.max_seconds - (policy.clock() - self._started)
            if left <= 0:
                raise HistoryUnavailable(
                    f"stopped after {policy.max_seconds:g} s, this lookup's budget"
                    + (f" (last: {_one_line(last)})" if last else "")
                )
            self.requests += 1
            try:
                response = self._http.get(
                    url, params=params, headers=self._headers, timeout=min(policy.timeout, left)
                )
            except httpx.TimeoutException:
                last, wait = "no answer in time", None
            except httpx.TransportError as exc:
                last, wait = f"the connection failed ({type(exc).__name__})", None
            except httpx.InvalidURL:
                raise HistoryUnavailable(f"the API URL {self._api!r} is not a URL") from None
            else:
                status = response.status_code
                if status < 300:
                    return response
                if not _transient(response):
                    raise _refusal(response, what, self.repository)
                last, wait = f"{status} {_message(response)}".strip(), _wait(response)
            delay = policy.base_delay * 2.0**attempt if wait is None else wait
            if attempt + 1 == policy.attempts or self._waited + delay > policy.max_wait:
                break
            self._waited += delay
            policy.sleep(delay)
        raise HistoryUnavailable(f"GitHub did not answer {what} (last: {_one_line(last)})")


def _transient(response: httpx.Response) -> bool:
    if response.status_code in _RETRIED:
        return True
    # 403 is a refusal, unless it is a rate limit (secondary, or the hourly quota spent).
    return response.status_code == 403 and (
        "retry-after" in response.headers
        or response.headers.get("x-ratelimit-remaining") == "0"
        or "rate limit" in _message(response).lower()
    )


def _wait(response: httpx.Response) -> float | None:
    """What GitHub asked to wait: `Retry-After`, or until the quota resets; None: back off."""
    retry_after = response.headers.get("retry-after", "")
    if retry_after.strip().isdigit():
        return float(retry_after)
    reset = response.headers.get("x-ratelimit-reset", "")
    if response.headers.get("x-ratelimit-remaining") == "0" and reset.isdigit():
        return max(float(reset) - time.time(), 0.0)
    return None


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    message = body.get("message") if isinstance(body, Mapping) else None
    return _one_line(message) if isinstance(message, str) else ""


def _json(response: httpx.Response, what: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise HistoryUnavailable(
            f"GitHub answered {what} with something that is not JSON "
            f"({response.headers.get('content-type', 'no content type')})"
        ) from None


def _refusal(response: httpx.Response, what: str, repository: str) -> HistoryUnavailable:
    status = response.status_code
    said = f"{status} {_message(response)}".strip()
    if status == 401:
        text = (
            f"GitHub refused the token for {what} ({said}): check the github-token input "
            "(GITHUB_TOKEN for `driftgate run`)"
        )
    elif status == 403:
        text = (
            f"the token may not read {repository}'s commits ({said}): grant it "
            "`contents: read` in the workflow's `permissions:`"
        )
    elif status == 404:
        text = (
            f"GitHub found no {what} ({said}): the commit was never pushed to {repository}, "
            "or the repository is private and the token may not read it (`contents: read`)"
        )
    else:
        text = f"GitHub refused {what} ({said})"
    return HistoryUnavailable(text, status)
