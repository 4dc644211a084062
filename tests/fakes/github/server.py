"""The fake on a background thread: seeding, fault injection, the registry of requests."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import subprocess
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.fakes.github import model
from tests.fakes.github.model import (
    ACTIONS_BOT,
    OCTOCAT,
    READ_ONLY,
    WRITE_ALL,
    Actor,
    Call,
    CheckRun,
    Comment,
    Fault,
    GitCommit,
    HTTPError,
    Pull,
    Repo,
    Response,
    State,
    Status,
    Token,
    WorkflowArtifact,
)
from tests.fakes.github.openapi import Description, Violation, description
from tests.fakes.github.routes import Routes
from tests.fakes.github.shapes import Shapes


class FakeGitHub:
    """GitHub's REST API on 127.0.0.1 (a free port), for as long as the `with` block runs.

    Tokens by name (`token(name)` gives the secret): `write` (an Actions token with
    `pull-requests`, `issues`, `checks` and `statuses` write), `fork` (a fork pull request's
    read-only token), `no-checks` (everything but `checks: write`), `personal` (a personal
    access token: may call `GET /user`, may not create check runs).

    `prefix` mimics GitHub Enterprise Server (`/api/v3`); the default is github.com's layout.

    `conform` (on in every test) holds the fake to GitHub's REST description
    (`tests.fakes.github.openapi`): a request body it refuses answers 422 as GitHub does,
    and an answer off the description is recorded and fails the test when the fake stops,
    naming the operation and the schema path.
    """

    def __init__(self, prefix: str = "", *, conform: bool = True) -> None:
        self.prefix = prefix.rstrip("/")
        self.conform = conform
        self._description: Description | None = None
        self._violations: list[Violation] = []
        self._refusals: list[str] = []
        self.origin = ""
        # Artifact zips are served from here: the same server under another host name, so
        # that a client which sends the API token along with a redirect is caught.
        self.storage_origin = ""
        self._lock = threading.RLock()
        self._ids = itertools.count(1_000_001)
        self._shas = itertools.count(1)
        self._ticks = itertools.count(0)
        self._state = State()
        self._faults: list[Fault] = []
        self._calls: list[Call] = []
        self._reset = int(time.time()) + 3600
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._routes = Routes(self._state, Shapes("", "", self._stored_repo), self._ids)
        self.add_token("write", WRITE_ALL)
        self.add_token("fork", READ_ONLY)
        self.add_token("no-checks", WRITE_ALL | {"checks": "read"})
        self.add_token("personal", WRITE_ALL, installation=False, actor=Actor("maintainer", 9001))

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> FakeGitHub:
        if self.conform:
            # Loaded before serving, so that a missing description fails at once.
            self._description = description()
        server = _Server(("127.0.0.1", 0), _RequestHandler)
        server.fake = self
        host, port = server.server_address[:2]
        self.origin = f"http://{host!s}:{port}"
        self.storage_origin = f"http://localhost:{port}"
        self._routes.shapes = Shapes(
            self.origin, self.api_url, self._stored_repo, self.storage_origin
        )
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeGitHub:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        # Also when the test failed: an answer off the description may be why.
        self.assert_conforms()

    @property
    def violations(self) -> list[Violation]:
        """The answers so far that GitHub's description does not allow."""
        with self._lock:
            return list(self._violations)

    @property
    def refusals(self) -> list[str]:
        """The requests refused because GitHub's description refuses their body (422), as
        `METHOD path: detail`: what a test of driftgate expects to be empty."""
        with self._lock:
            return list(self._refusals)

    def take_refusals(self) -> list[str]:
        """The refusals so far, forgotten: for tests that send refused bodies on purpose."""
        with self._lock:
            taken, self._refusals = self._refusals, []
            return taken

    def assert_conforms(self) -> None:
        """AssertionError naming every operation whose answer was off the description."""
        seen = list(dict.fromkeys(str(v) for v in self.violations))
        if seen:
            raise AssertionError("\n".join(seen))

    @property
    def api_url(self) -> str:
        """What to give PyGithub as `base_url` (and driftgate as `api-url`)."""
        return self.origin + self.prefix

    # ------------------------------------------------------------------ seeding
    def add_token(
        self,
        name: str,
        permissions: dict[str, str],
        *,
        installation: bool = True,
        actor: Actor = ACTIONS_BOT,
    ) -> str:
        """A token with `permissions` (`{"checks": "write", ...}`, GitHub's names with
        underscores); returns its secret."""
        digest = hashlib.sha256(name.encode()).hexdigest()[:36]
        secret = ("ghs_" if installation else "ghp_") + digest
        with self._lock:
            self._state.tokens[secret] = Token(name, secret, dict(permissions), actor, installation)
        return secret

    def token(self, name: str) -> str:
        with self._lock:
            return next(t.secret for t in self._state.tokens.values() if t.name == name)

    def sha(self) -> str:
        """A fresh, deterministic commit sha."""
        text = f"commit {next(self._shas)}".encode()
        return hashlib.sha1(text, usedforsecurity=False).hexdigest()

    def add_repo(
        self, full_name: str, *, default_branch: str = "main", private: bool = False
    ) -> Repo:
        owner = Actor(full_name.split("/", maxsplit=1)[0], next(self._ids), "Organization")
        repo = Repo(next(self._ids), full_name, owner, default_branch, private)
        with self._lock:
            self._state.repos[full_name.lower()] = repo
        return repo

    def add_commit(
        self,
        repo: str,
        sha: str | None = None,
        *,
        parents: Sequence[str] = (),
        date: str | None = None,
        message: str = "A commit",
        branch: str | None = None,
    ) -> str:
        """A commit (a root unless `parents` are given, which must be known); `branch` then
        points at it. Without `date`, each commit is a second newer than the one before."""
        sha = sha or self.sha()
        with self._lock:
            found = self._find_repo(repo)
            unknown = [p for p in parents if p not in found.graph]
            if unknown:
                raise ValueError(f"add the parents first: {unknown}")
            if date is None:
                stamp = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=next(self._ticks))
                date = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
            found.commits.add(sha)
            found.graph.setdefault(sha, GitCommit(sha, tuple(parents), date, message))
            if branch is not None:
                found.branches[branch] = sha
        return sha

    def set_branch(self, repo: str, name: str, sha: str) -> None:
        with self._lock:
            found = self._find_repo(repo)
            if sha not in found.graph:
                raise ValueError(f"unknown commit {sha}")
            found.branches[name] = sha

    def add_git_history(self, repo: str, checkout: Path | str) -> list[str]:
        """Every commit of a local git repository (its parents, committer dates and subjects)
        and its branches, as GitHub would hold them once pushed; returns the shas, oldest
        first."""
        log = subprocess.run(
            ["git", "log", "--all", "--reverse", "--topo-order", "--format=%H %ct %P%x09%s"],
            cwd=checkout,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        shas = []
        for line in log.splitlines():
            fields, _, subject = line.partition("\t")
            sha, stamp, *parents = fields.split()
            date = datetime.fromtimestamp(int(stamp), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            shas.append(self.add_commit(repo, sha, parents=parents, date=date, message=subject))
        refs = subprocess.run(
            ["git", "for-each-ref", "--format=%(refname:short) %(objectname)", "refs/heads"],
            cwd=checkout,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        for line in refs.splitlines():
            name, sha = line.split()
            self.set_branch(repo, name, sha)
        return shas

    def add_pull(
        self,
        repo: str,
        number: int,
        *,
        head_sha: str | None = None,
        base_sha: str | None = None,
        head_ref: str = "feature",
        base_ref: str = "main",
        head_repo: str | None = None,
        author: Actor = OCTOCAT,
    ) -> Pull:
        """A pull request; a `head_repo` other than `repo` makes it come from a fork."""
        with self._lock:
            base = self._find_repo(repo)
            if head_repo and head_repo.lower() not in self._state.repos:
                self.add_repo(head_repo).fork = True
            pull = Pull(
                repo=base.full_name,
                number=number,
                head_sha=self.add_commit(repo, head_sha),
                head_ref=head_ref,
                head_repo=head_repo or base.full_name,
                base_sha=self.add_commit(repo, base_sha),
                base_ref=base_ref,
                author=author,
            )
            self._state.pulls[(repo.lower(), number)] = pull
            return pull

    def delete_repo(self, full_name: str) -> None:
        """The repository is deleted (a fork gone): it answers 404, and the pull requests
        that came from it have `head.repo: null`, as GitHub's do."""
        with self._lock:
            self._find_repo(full_name).deleted = True

    def push(self, repo: str, number: int, head_sha: str | None = None) -> str:
        """A new commit on the pull request's branch; returns the new head sha."""
        with self._lock:
            pull = self._routes.pull(repo, number)
            pull.head_sha = self.add_commit(repo, head_sha)
            return pull.head_sha

    def add_comment(self, repo: str, number: int, body: str, *, author: Actor = OCTOCAT) -> Comment:
        with self._lock:
            pull = self._routes.pull(repo, number)
            when = model.now()
            comment = Comment(next(self._ids), pull.repo, number, body, author, when, when)
            self._state.comments[comment.id] = comment
            return comment

    def add_comments(
        self, repo: str, number: int, count: int, *, body: str = "LGTM", author: Actor = OCTOCAT
    ) -> list[Comment]:
        """`count` comments (`"<body> (i)"`), for filling pages."""
        return [
            self.add_comment(repo, number, f"{body} ({i})", author=author) for i in range(count)
        ]

    def add_artifact(
        self,
        repo: str,
        run_id: int,
        data: bytes,
        *,
        name: str = "driftgate-report",
        head_sha: str = "",
        head_branch: str = "feature",
        expired: bool = False,
        declared_size: int | None = None,
    ) -> WorkflowArtifact:
        """An artifact that workflow run `run_id` uploaded: `data` is its zip."""
        with self._lock:
            artifact = WorkflowArtifact(
                next(self._ids),
                self._find_repo(repo).full_name,
                run_id,
                name,
                data,
                head_sha,
                head_branch,
                expired,
                declared_size,
                model.now(),
            )
            self._state.artifacts[artifact.id] = artifact
            return artifact

    # ------------------------------------------------------------------ reading state
    def comments(self, repo: str, number: int) -> list[Comment]:
        with self._lock:
            return self._routes.comments_of(self._find_repo(repo).full_name, number)

    def check_runs(self, repo: str, head_sha: str | None = None) -> list[CheckRun]:
        with self._lock:
            name = self._find_repo(repo).full_name
            runs = self._state.check_runs.values()
            return [r for r in runs if r.repo == name and head_sha in (None, r.head_sha)]

    def statuses(self, repo: str, sha: str | None = None) -> list[Status]:
        with self._lock:
            name = self._find_repo(repo).full_name
            return [s for s in self._state.statuses if s.repo == name and sha in (None, s.sha)]

    # ------------------------------------------------------------------ faults
    def rate_limit(
        self,
        times: int = 1,
        *,
        status: int = 403,
        retry_after: float | None = 1,
        method: str | None = None,
        path: str | None = None,
        after: int = 0,
    ) -> None:
        """The next `times` requests matching `method` and the `path` regex (searched in the
        normalized path), once `after` of them went through, answer a secondary rate limit,
        403 or 429, with `Retry-After` unless it is None."""
        fault = Fault(
            status, "secondary", times, method, path, retry_after=retry_after, after=after
        )
        with self._lock:
            self._faults.append(fault)

    def primary_rate_limit(
        self,
        times: int = 1,
        *,
        reset_at: int | None = None,
        method: str | None = None,
        path: str | None = None,
        after: int = 0,
    ) -> None:
        """The next `times` matching requests (after `after` of them) find the hourly quota
        spent: 403 with `X-RateLimit-Remaining: 0` and `X-RateLimit-Reset: reset_at`."""
        reset = reset_at if reset_at is not None else int(time.time()) + 60
        fault = Fault(403, "primary", times, method, path, reset_at=reset, after=after)
        with self._lock:
            self._faults.append(fault)

    def server_error(
        self,
        times: int = 1,
        *,
        status: int = 502,
        method: str | None = None,
        path: str | None = None,
        after_processing: bool = False,
        after: int = 0,
    ) -> None:
        """The next `times` matching requests (after `after` of them) answer `status`; with
        `after_processing` the request is carried out first and only its answer is lost."""
        fault = Fault(
            status, "server", times, method, path, after_processing=after_processing, after=after
        )
        with self._lock:
            self._faults.append(fault)

    # ------------------------------------------------------------------ registry
    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def called(self, method: str | None = None, path: str | None = None) -> list[Call]:
        """The requests with `method` whose normalized path fully matches the `path` regex."""
        return [
            c
            for c in self.calls
            if (method is None or c.method == method)
            and (path is None or re.fullmatch(path, c.path) is not None)
        ]

    def writes(self) -> list[Call]:
        return [c for c in self.calls if c.method != "GET"]

    def clear_calls(self) -> None:
        with self._lock:
            self._calls.clear()

    # ------------------------------------------------------------------ serving
    def handle(self, method: str, target: str, authorization: str | None, raw: bytes) -> Response:
        split = urlsplit(target)
        query = dict(parse_qsl(split.query))
        if split.path.startswith("/_storage/"):
            return self._storage(method, split.path, query, authorization)
        with self._lock:
            token, bad_credentials = self._authenticate(authorization)
            try:
                body: Any = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode(errors="replace")
            try:
                path = self._normalize(split.path)
                response = self._dispatch(method, path, query, body, token, bad_credentials)
            except HTTPError as error:
                path, response = split.path, error.response
            self._calls.append(
                Call(method, path, query, body, token.name if token else None, response.status)
            )
            # JSON answers only: a download's bytes have no schema to meet.
            if self._description is not None and not isinstance(response.body, bytes | str):
                violation = self._description.check(method, path, response.status, response.body)
                if violation is not None:
                    self._violations.append(violation)
            response.headers = self._headers(token) | response.headers
            return response

    def _storage(
        self, method: str, path: str, query: dict[str, str], authorization: str | None
    ) -> Response:
        """The storage host answers without GitHub's headers; its calls are recorded with the
        name of any token that was sent to it (never the secret)."""
        with self._lock:
            token, _ = self._authenticate(authorization)
            sent = (token.name if token else "unknown") if authorization else None
            if method != "GET":
                response = Response(405, {"code": "UnsupportedHttpVerb"})
            else:
                response = self._routes.storage(path, query, authorization is not None)
            self._calls.append(Call(method, path, query, None, sent, response.status))
            return response

    def _dispatch(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        body: Any,
        token: Token | None,
        bad_credentials: bool,
    ) -> Response:
        fault = self._take_fault(method, path)
        if fault is not None and not fault.after_processing:
            return self._fault_response(fault)
        if bad_credentials:
            return HTTPError(401, "Bad credentials").response
        if token is not None:
            token.used += 1
        try:
            if isinstance(body, str):
                raise HTTPError(400, "Problems parsing JSON")
            refused = self._refused(method, path, body)
            if refused is not None:
                raise model.invalid(refused)
            response = self._routes.route(method, path, query, body, token)
        except HTTPError as error:
            response = error.response
        return response if fault is None else self._fault_response(fault)

    def _refused(self, method: str, path: str, body: Any) -> str | None:
        """Why GitHub's description refuses this request body; None when it accepts it."""
        if self._description is None or body is None:
            return None
        refused = self._description.refuse(method, path, body)
        if refused is not None:
            self._refusals.append(f"{method} {path}: {refused}")
        return refused

    def _authenticate(self, authorization: str | None) -> tuple[Token | None, bool]:
        if not authorization:
            return None, False
        scheme, _, secret = authorization.partition(" ")
        known = scheme.lower() in ("token", "bearer")
        token = self._state.tokens.get(secret.strip()) if known else None
        return token, token is None

    def _normalize(self, path: str) -> str:
        if self.prefix:
            if not path.startswith(self.prefix + "/"):
                raise HTTPError(404, "Not Found")
            path = path[len(self.prefix) :]
        match = re.fullmatch(r"/repositories/(\d+)(/.*)?", path)
        if match:
            repos = self._state.repos.values()
            repo = next((r for r in repos if r.id == int(match[1])), None)
            if repo is None:
                raise HTTPError(404, "Not Found")
            path = f"/repos/{repo.full_name}{match[2] or ''}"
        return path.rstrip("/") or "/"

    def _find_repo(self, name: str) -> Repo:
        return self._routes.repo(name)

    def _stored_repo(self, name: str) -> Repo:
        # Deleted ones included: a pull request still names the fork it came from.
        return self._state.repos[name.lower()]

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self._faults:
            if fault.times > 0 and fault.matches(method, path):
                if fault.after > 0:
                    fault.after -= 1
                    continue
                fault.times -= 1
                return fault
        return None

    @staticmethod
    def _fault_response(fault: Fault) -> Response:
        if fault.kind == "server":
            return Response(fault.status, {"message": "Server Error"})
        if fault.kind == "primary":
            headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(fault.reset_at)}
            message = "API rate limit exceeded for installation ID 1."
            return Response(403, model.error_body(403, message), headers)
        headers = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
        return Response(
            fault.status, model.error_body(fault.status, model.SECONDARY_RATE_LIMIT), headers
        )

    def _headers(self, token: Token | None) -> dict[str, str]:
        limit = token.limit if token else 60
        used = token.used if token else 0
        return {
            "Content-Type": "application/json; charset=utf-8",
            "X-GitHub-Media-Type": "github.v3; format=json",
            "X-GitHub-Api-Version-Selected": "2022-11-28",
            "X-GitHub-Request-Id": f"FAKE:{len(self._calls):04d}",
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(max(limit - used, 0)),
            "X-RateLimit-Reset": str(self._reset),
            "X-RateLimit-Used": str(used),
            "X-RateLimit-Resource": "core",
        }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeGitHub


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "GitHub.com"
    sys_version = ""
    # Headers and body go out in separate writes; without this, Nagle's algorithm and
    # delayed ACKs add 40 ms to every request on a kept-alive connection.
    disable_nagle_algorithm = True
    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        response = self.server.fake.handle(
            self.command, self.path, self.headers.get("Authorization"), raw
        )
        if isinstance(response.body, bytes):
            payload = response.body
        else:
            payload = b"" if response.body is None else json.dumps(response.body).encode()
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if response.status != 204:
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the registry is the log."""
