"""The endpoints driftgate uses, answering as GitHub does: permissions per token, 422 for
what GitHub refuses, paging with `Link` headers in the `/repositories/{id}` form."""

from __future__ import annotations

import hashlib
import heapq
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from tests.fakes.github import model
from tests.fakes.github.model import (
    CheckRun,
    Comment,
    GitCommit,
    HTTPError,
    Pull,
    Repo,
    Response,
    State,
    Status,
    Token,
    WorkflowArtifact,
    invalid,
    too_long,
)
from tests.fakes.github.shapes import Shapes


@dataclass(frozen=True)
class Request:
    params: dict[str, str]
    query: dict[str, str]
    body: Any
    token: Token | None

    @property
    def repo(self) -> str:
        return self.params["repo"]

    @property
    def number(self) -> int:
        return int(self.params["number"])

    def field(self, name: str) -> Any:
        return self.body.get(name) if isinstance(self.body, dict) else None


_REPO = r"/repos/(?P<repo>[^/]+/[^/]+)"


class Routes:
    def __init__(self, state: State, shapes: Shapes, ids: Iterator[int]) -> None:
        self.state = state
        self.shapes = shapes
        self.ids = ids
        self.table: list[tuple[str, re.Pattern[str], Callable[[Request], Response]]] = [
            (method, re.compile(pattern), handler)
            for method, pattern, handler in [
                ("GET", r"/user", self.get_user),
                ("GET", _REPO, self.get_repo),
                ("GET", _REPO + r"/pulls", self.list_pulls),
                ("GET", _REPO + r"/pulls/(?P<number>\d+)", self.get_pull),
                ("GET", _REPO + r"/issues/(?P<number>\d+)", self.get_issue),
                ("GET", _REPO + r"/issues/(?P<number>\d+)/comments", self.list_comments),
                ("POST", _REPO + r"/issues/(?P<number>\d+)/comments", self.add_comment),
                ("GET", _REPO + r"/issues/comments/(?P<id>\d+)", self.get_comment),
                ("PATCH", _REPO + r"/issues/comments/(?P<id>\d+)", self.edit_comment),
                ("DELETE", _REPO + r"/issues/comments/(?P<id>\d+)", self.delete_comment),
                ("POST", _REPO + r"/check-runs", self.create_check_run),
                ("GET", _REPO + r"/check-runs/(?P<id>\d+)", self.get_check_run),
                ("PATCH", _REPO + r"/check-runs/(?P<id>\d+)", self.edit_check_run),
                ("GET", _REPO + r"/commits/(?P<sha>[^/]+)/check-runs", self.list_check_runs),
                ("GET", _REPO + r"/commits/(?P<sha>[^/]+)/statuses", self.list_statuses),
                ("GET", _REPO + r"/commits/(?P<sha>[^/]+)", self.get_commit),
                ("GET", _REPO + r"/commits", self.list_commits),
                ("GET", _REPO + r"/compare/(?P<basehead>.+)", self.compare),
                ("POST", _REPO + r"/statuses/(?P<sha>[^/]+)", self.create_status),
                (
                    "GET",
                    _REPO + r"/actions/runs/(?P<run>\d+)/artifacts",
                    self.list_run_artifacts,
                ),
                (
                    "GET",
                    _REPO + r"/actions/artifacts/(?P<id>\d+)/(?P<format>[^/]+)",
                    self.download_artifact,
                ),
            ]
        ]

    def route(
        self, method: str, path: str, query: dict[str, str], body: Any, token: Token | None
    ) -> Response:
        for verb, pattern, handler in self.table:
            match = pattern.fullmatch(path)
            if match and verb == method:
                params = match.groupdict()
                if "repo" in params:
                    repo = self.repo(params["repo"])
                    if repo.private and token is None:
                        raise HTTPError(404, "Not Found")
                    params["repo"] = repo.full_name
                return handler(Request(params, query, body, token))
        raise HTTPError(404, "Not Found")

    # ------------------------------------------------------------------ lookups
    def repo(self, name: str) -> Repo:
        repo = self.state.repos.get(name.lower())
        if repo is None or repo.deleted:
            raise HTTPError(404, "Not Found")
        return repo

    def pull(self, repo: str, number: int) -> Pull:
        pull = self.state.pulls.get((repo.lower(), number))
        if pull is None:
            raise HTTPError(404, "Not Found")
        return pull

    def comments_of(self, repo: str, number: int) -> list[Comment]:
        return sorted(
            (c for c in self.state.comments.values() if c.repo == repo and c.issue == number),
            key=lambda c: c.id,
        )

    def comment(self, request: Request) -> Comment:
        comment = self.state.comments.get(int(request.params["id"]))
        if comment is None or comment.repo != request.repo:
            raise HTTPError(404, "Not Found")
        return comment

    def check_run(self, request: Request) -> CheckRun:
        run = self.state.check_runs.get(int(request.params["id"]))
        if run is None or run.repo != request.repo:
            raise HTTPError(404, "Not Found")
        return run

    def known_commit(self, repo: str, sha: Any) -> str:
        if not isinstance(sha, str) or sha not in self.repo(repo).commits:
            raise HTTPError(422, f"No commit found for SHA: {sha}")
        return sha

    @staticmethod
    def require_write(token: Token | None, *permissions: str) -> Token:
        if token is None:
            raise HTTPError(401, "Requires authentication")
        if not any(token.permissions.get(p) == "write" for p in permissions):
            if token.installation:
                raise HTTPError(403, model.NOT_ACCESSIBLE)
            raise HTTPError(403, "Resource not accessible by personal access token")
        return token

    # ------------------------------------------------------------------ users, repos, pulls
    def get_user(self, request: Request) -> Response:
        if request.token is None:
            raise HTTPError(401, "Requires authentication")
        if request.token.installation:
            raise HTTPError(403, model.NOT_ACCESSIBLE)
        return Response(200, self.shapes.private_user(request.token.actor))

    def get_repo(self, request: Request) -> Response:
        return Response(200, self.shapes.full_repository(self.repo(request.repo)))

    def list_pulls(self, request: Request) -> Response:
        """`state` (open by default, closed, all) and `head` (`owner:branch`), as GitHub
        filters them; newest first."""
        repo = self.repo(request.repo)
        state = request.query.get("state", "open")
        if state not in ("open", "closed", "all"):
            raise invalid(f"{state!r} is not a valid state.")
        found = [
            p
            for p in self.state.pulls.values()
            if p.repo == repo.full_name and state in ("all", p.state)
        ]
        head = request.query.get("head")
        if head is not None:
            owner, _, branch = head.partition(":")
            found = [
                p
                for p in found
                if p.head_repo.split("/")[0].lower() == owner.lower() and p.head_ref == branch
            ]
        if "base" in request.query:
            found = [p for p in found if p.base_ref == request.query["base"]]
        found.sort(key=lambda p: -p.number)
        chunk, headers = self.shapes.page(found, request.query, f"/repositories/{repo.id}/pulls")
        return Response(200, [self.shapes.pull(p) for p in chunk], headers)

    def get_pull(self, request: Request) -> Response:
        return Response(200, self.shapes.pull(self.pull(request.repo, request.number)))

    def get_issue(self, request: Request) -> Response:
        return Response(200, self.shapes.issue(self.pull(request.repo, request.number)))

    # ------------------------------------------------------------------ comments
    def list_comments(self, request: Request) -> Response:
        repo = self.repo(request.repo)
        self.pull(repo.full_name, request.number)
        chunk, headers = self.shapes.page(
            self.comments_of(repo.full_name, request.number),
            request.query,
            f"/repositories/{repo.id}/issues/{request.number}/comments",
        )
        return Response(200, [self.shapes.comment(c) for c in chunk], headers)

    @staticmethod
    def comment_body(request: Request) -> str:
        text = request.field("body")
        if not isinstance(text, str) or not text:
            raise invalid('"body" wasn\'t supplied.')
        if len(text) > model.COMMENT_BODY_LIMIT:
            raise too_long("IssueComment", "body", model.COMMENT_BODY_LIMIT)
        return text

    def add_comment(self, request: Request) -> Response:
        self.pull(request.repo, request.number)
        writer = self.require_write(request.token, "pull_requests", "issues")
        text = self.comment_body(request)
        when = model.now()
        comment = Comment(
            next(self.ids), request.repo, request.number, text, writer.actor, when, when
        )
        self.state.comments[comment.id] = comment
        data = self.shapes.comment(comment)
        return Response(201, data, {"Location": data["url"]})

    def get_comment(self, request: Request) -> Response:
        return Response(200, self.shapes.comment(self.comment(request)))

    def edit_comment(self, request: Request) -> Response:
        comment = self.comment(request)
        self.require_write(request.token, "pull_requests", "issues")
        comment.body = self.comment_body(request)
        comment.updated_at = model.now()
        return Response(200, self.shapes.comment(comment))

    def delete_comment(self, request: Request) -> Response:
        comment = self.comment(request)
        self.require_write(request.token, "pull_requests", "issues")
        del self.state.comments[comment.id]
        return Response(204)

    # ------------------------------------------------------------------ check runs
    @staticmethod
    def apply_check(body: dict[str, Any], run: CheckRun, *, create: bool) -> None:
        """Apply a create or update body to `run`, answering 422 where GitHub would."""
        if "status" in body:
            # `waiting`, `requested` and `pending` are GitHub Actions' own, never created.
            allowed = model.CHECK_CREATE_STATUSES if create else model.CHECK_STATUSES
            if body["status"] not in allowed:
                raise invalid(f"{body['status']!r} is not a valid status.")
            run.status = body["status"]
        if body.get("conclusion") is not None:
            if body["conclusion"] not in model.CHECK_CONCLUSIONS:
                raise invalid(f"{body['conclusion']!r} is not a valid conclusion.")
            if body["conclusion"] == "stale":
                raise invalid("Only GitHub can set a check run's conclusion to stale.")
            run.conclusion = body["conclusion"]
            run.status = "completed"
            run.completed_at = body.get("completed_at") or model.now()
        if run.status == "completed" and run.conclusion is None:
            raise invalid('"conclusion" wasn\'t supplied.')
        for key in ("details_url", "external_id", "started_at", "name"):
            if key in body:
                setattr(run, key, body[key])
        output = body.get("output")
        if output is None:
            return
        if not isinstance(output, dict) or not isinstance(output.get("title"), str):
            raise invalid('"title" wasn\'t supplied.')
        if not isinstance(output.get("summary"), str):
            raise invalid('"summary" wasn\'t supplied.')
        for key, limit in (
            ("title", model.CHECK_TITLE_LIMIT),
            ("summary", model.CHECK_OUTPUT_LIMIT),
            ("text", model.CHECK_OUTPUT_LIMIT),
        ):
            value = output.get(key)
            if isinstance(value, str) and len(value) > limit:
                raise invalid(
                    f"Only {limit} characters are allowed in {key}; {len(value)} were supplied."
                )
        annotations = output.get("annotations") or []
        if len(annotations) > model.ANNOTATIONS_PER_REQUEST:
            raise invalid(f"Only {model.ANNOTATIONS_PER_REQUEST} annotations are allowed.")
        run.output = {k: output.get(k) for k in ("title", "summary", "text")}
        # Annotations accumulate over updates, as GitHub's do.
        run.annotations += len(annotations)

    def create_check_run(self, request: Request) -> Response:
        writer = self.require_write(request.token, "checks")
        if not writer.installation:
            raise HTTPError(403, "You must authenticate via a GitHub App.")
        name = request.field("name")
        if not isinstance(name, str) or not name:
            raise invalid('"name" wasn\'t supplied.')
        sha = self.known_commit(request.repo, request.field("head_sha"))
        run = CheckRun(next(self.ids), request.repo, name, sha, "queued", None, {})
        self.apply_check(request.body, run, create=True)
        self.state.check_runs[run.id] = run
        data = self.shapes.check_run(run)
        return Response(201, data, {"Location": data["url"]})

    def get_check_run(self, request: Request) -> Response:
        return Response(200, self.shapes.check_run(self.check_run(request)))

    def edit_check_run(self, request: Request) -> Response:
        run = self.check_run(request)
        self.require_write(request.token, "checks")
        if not isinstance(request.body, dict):
            raise HTTPError(400, "Problems parsing JSON")
        # Changes go to a copy, so that a 422 leaves the stored run as it was.
        updated = CheckRun(**{**run.__dict__, "output": dict(run.output)})
        self.apply_check(request.body, updated, create=False)
        self.state.check_runs[run.id] = updated
        return Response(200, self.shapes.check_run(updated))

    def list_check_runs(self, request: Request) -> Response:
        repo = self.repo(request.repo)
        sha = self.known_commit(repo.full_name, request.params["sha"])
        runs = sorted(
            (
                r
                for r in self.state.check_runs.values()
                if r.repo == repo.full_name and r.head_sha == sha
            ),
            key=lambda r: -r.id,
        )
        if "check_name" in request.query:
            runs = [r for r in runs if r.name == request.query["check_name"]]
        if "status" in request.query:
            runs = [r for r in runs if r.status == request.query["status"]]
        if request.query.get("filter", "latest") == "latest":
            newest: dict[str, CheckRun] = {}
            for run in runs:
                newest.setdefault(run.name, run)
            runs = list(newest.values())
        chunk, headers = self.shapes.page(
            runs, request.query, f"/repositories/{repo.id}/commits/{sha}/check-runs"
        )
        data = {"total_count": len(runs), "check_runs": [self.shapes.check_run(r) for r in chunk]}
        return Response(200, data, headers)

    # ------------------------------------------------------------------ artifacts
    @staticmethod
    def require_actions(token: Token | None) -> None:
        """An installation token needs `actions` (read is enough) to see artifacts."""
        if token is not None and token.installation and token.permissions.get("actions") is None:
            raise HTTPError(403, model.NOT_ACCESSIBLE)

    def list_run_artifacts(self, request: Request) -> Response:
        repo = self.repo(request.repo)
        self.require_actions(request.token)
        run = int(request.params["run"])
        found = sorted(
            (
                a
                for a in self.state.artifacts.values()
                if a.repo == repo.full_name and a.run_id == run
            ),
            key=lambda a: a.id,
        )
        if "name" in request.query:
            found = [a for a in found if a.name == request.query["name"]]
        chunk, headers = self.shapes.page(
            found, request.query, f"/repositories/{repo.id}/actions/runs/{run}/artifacts"
        )
        data = {"total_count": len(found), "artifacts": [self.shapes.artifact(a) for a in chunk]}
        return Response(200, data, headers)

    def download_artifact(self, request: Request) -> Response:
        """A 302 to the zip on the storage host, as GitHub answers; 410 once expired."""
        self.require_actions(request.token)
        if request.params["format"] != "zip":
            raise HTTPError(404, "Not Found")
        artifact = self.state.artifacts.get(int(request.params["id"]))
        if artifact is None or artifact.repo != request.repo:
            raise HTTPError(404, "Not Found")
        if artifact.expired:
            raise HTTPError(410, "Artifact has expired")
        location = (
            f"{self.shapes.storage}/_storage/artifacts/{artifact.id}.zip?sig={_sig(artifact)}"
        )
        return Response(302, None, {"Location": location})

    def storage(self, path: str, query: dict[str, str], authorized: bool) -> Response:
        """The storage host: the zip for a signed address, and, like Azure's, a refusal for
        a request that carries an Authorization header it did not issue."""
        if authorized:
            return Response(
                400,
                {
                    "code": "InvalidAuthenticationInfo",
                    "message": "Authentication information is not given in the correct format.",
                },
            )
        match = re.fullmatch(r"/_storage/artifacts/(\d+)\.zip", path)
        artifact = self.state.artifacts.get(int(match[1])) if match else None
        if artifact is None or query.get("sig") != _sig(artifact):
            return Response(403, {"code": "AuthenticationFailed"})
        return Response(200, artifact.data, {"Content-Type": "application/zip"})

    # ------------------------------------------------------------------ commits and statuses
    def get_commit(self, request: Request) -> Response:
        repo = self.repo(request.repo)
        self.require_read(repo, request.token)
        sha = self.resolve(repo, unquote(request.params["sha"]))
        if sha is None:
            raise HTTPError(422, f"No commit found for SHA: {request.params['sha']}")
        return Response(200, self.shapes.commit(repo, repo.graph[sha], detail=True))

    @staticmethod
    def require_read(repo: Repo, token: Token | None, permission: str = "contents") -> None:
        """A private repository's contents need the permission (public ones are readable by
        anyone); a token without it gets GitHub's 403."""
        if not repo.private or token is None:
            return  # `route` already answered 404 to anonymous requests for private repos
        if token.permissions.get(permission) not in ("read", "write"):
            if token.installation:
                raise HTTPError(403, model.NOT_ACCESSIBLE)
            raise HTTPError(403, "Resource not accessible by personal access token")

    @staticmethod
    def resolve(repo: Repo, ref: str) -> str | None:
        """A branch name, a full sha or an unambiguous abbreviation (7 or more), as GitHub
        resolves refs in commit endpoints."""
        if ref in repo.branches:
            return repo.branches[ref]
        if ref in repo.graph:
            return ref
        if len(ref) >= 7 and re.fullmatch(r"[0-9a-f]+", ref):
            found = [sha for sha in repo.graph if sha.startswith(ref)]
            return found[0] if len(found) == 1 else None
        return None

    @staticmethod
    def walk(repo: Repo, tips: Iterable[str]) -> list[GitCommit]:
        """The commits reachable from `tips`, in `git log`'s default order: newest committer
        date first, each commit once, a commit only ever after the one that led to it."""
        queue: list[tuple[float, int, str]] = []
        seen: set[str] = set()
        order = 0

        def push(sha: str) -> None:
            nonlocal order
            if sha not in seen:
                seen.add(sha)
                stamp = datetime.fromisoformat(repo.graph[sha].date).timestamp()
                heapq.heappush(queue, (-stamp, order, sha))  # newest first
                order += 1

        for tip in tips:
            push(tip)
        out = []
        while queue:
            _, _, sha = heapq.heappop(queue)
            commit = repo.graph[sha]
            out.append(commit)
            for parent in commit.parents:
                push(parent)
        return out

    def list_commits(self, request: Request) -> Response:
        repo = self.repo(request.repo)
        self.require_read(repo, request.token)
        ref = request.query.get("sha") or repo.default_branch
        tip = self.resolve(repo, ref)
        if tip is None:
            raise HTTPError(404, f"No commit found for SHA: {ref}")
        chunk, headers = self.shapes.page(
            self.walk(repo, [tip]), request.query, f"/repositories/{repo.id}/commits"
        )
        return Response(200, [self.shapes.commit(repo, c) for c in chunk], headers)

    def compare(self, request: Request) -> Response:
        repo = self.repo(request.repo)
        self.require_read(repo, request.token)
        basehead = unquote(request.params["basehead"])
        base_ref, sep, head_ref = basehead.partition("...")
        base, head = self.resolve(repo, base_ref), self.resolve(repo, head_ref)
        if not sep or base is None or head is None:
            raise HTTPError(404, "Not Found")
        of_base = {c.sha for c in self.walk(repo, [base])}
        of_head = self.walk(repo, [head])
        common = [c for c in of_head if c.sha in of_base]
        # The common ancestors are closed under ancestry: the best ones are those that are
        # no member's parent. Several (criss-cross merges): the newest, as git picks one.
        parents = {p for c in common for p in c.parents}
        best = [c for c in common if c.sha not in parents]
        if not best:
            raise HTTPError(404, f"No common ancestor between {base_ref} and {head_ref}.")
        ahead = [c for c in of_head if c.sha not in of_base]
        behind = len(of_base) - len(common)
        status = (
            "identical"
            if not ahead and not behind
            else "ahead"
            if not behind
            else "behind"
            if not ahead
            else "diverged"
        )
        # Oldest first, as GitHub lists a comparison's commits.
        chunk, headers = self.shapes.page(
            list(reversed(ahead)),
            request.query,
            f"/repositories/{repo.id}/compare/{request.params['basehead']}",
        )
        data = self.shapes.comparison(
            repo,
            basehead,
            base=repo.graph[base],
            head=repo.graph[head],
            merge_base=best[0],
            status=status,
            ahead_by=len(ahead),
            behind_by=behind,
            commits=chunk,
        )
        return Response(200, data, headers)

    def list_statuses(self, request: Request) -> Response:
        repo = self.repo(request.repo)
        sha = request.params["sha"]
        found = [
            s for s in reversed(self.state.statuses) if s.repo == repo.full_name and s.sha == sha
        ]
        chunk, headers = self.shapes.page(
            found, request.query, f"/repositories/{repo.id}/commits/{sha}/statuses"
        )
        return Response(200, [self.shapes.status(s) for s in chunk], headers)

    def create_status(self, request: Request) -> Response:
        writer = self.require_write(request.token, "statuses")
        sha = self.known_commit(request.repo, request.params["sha"])
        if request.field("state") not in model.STATUS_STATES:
            raise HTTPError(
                422,
                "Validation Failed",
                [
                    {
                        "resource": "Status",
                        "code": "custom",
                        "field": "state",
                        "message": "state is not included in the list",
                    }
                ],
            )
        description = request.field("description")
        if isinstance(description, str) and len(description) > model.STATUS_DESCRIPTION_LIMIT:
            raise too_long("Status", "description", model.STATUS_DESCRIPTION_LIMIT)
        status = Status(
            id=next(self.ids),
            repo=request.repo,
            sha=sha,
            state=request.field("state"),
            context=request.field("context") or "default",
            description=description,
            target_url=request.field("target_url"),
            creator=writer.actor,
            created_at=model.now(),
        )
        self.state.statuses.append(status)
        return Response(201, self.shapes.status(status))


def _sig(artifact: WorkflowArtifact) -> str:
    return hashlib.sha256(f"artifact {artifact.id}".encode()).hexdigest()[:32]
