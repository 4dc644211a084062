"""The endpoints driftgate uses, answering as GitHub does: permissions per token, 422 for
what GitHub refuses, paging with `Link` headers in the `/repositories/{id}` form."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from tests.fakes.github import model
from tests.fakes.github.model import (
    CheckRun,
    Comment,
    HTTPError,
    Pull,
    Repo,
    Response,
    State,
    Status,
    Token,
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
                ("POST", _REPO + r"/statuses/(?P<sha>[^/]+)", self.create_status),
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

    # ------------------------------------------------------------------ commits and statuses
    def get_commit(self, request: Request) -> Response:
        repo = self.repo(request.repo)
        sha = self.known_commit(repo.full_name, request.params["sha"])
        return Response(200, self.shapes.commit(repo, sha))

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
