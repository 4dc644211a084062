"""The JSON the fake answers, shaped like GitHub's, with every URL on the fake's origin."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from tests.fakes.github.model import (
    OCTOCAT,
    Actor,
    CheckRun,
    Comment,
    GitCommit,
    Pull,
    Repo,
    Status,
    WorkflowArtifact,
)


@dataclass(frozen=True)
class Shapes:
    origin: str
    api_url: str
    repo: Callable[[str], Repo]
    # Where artifact zips are served: another host than the API's, like GitHub's storage.
    storage: str = ""

    def user(self, actor: Actor) -> dict[str, Any]:
        api = f"{self.api_url}/users/{quote(actor.login)}"
        return {
            "login": actor.login,
            "id": actor.id,
            "node_id": f"U_{actor.id}",
            "type": actor.type,
            "site_admin": False,
            "url": api,
            "html_url": f"{self.origin}/{quote(actor.login)}",
            "avatar_url": f"{self.origin}/avatars/{actor.id}",
            "gravatar_id": "",
            "followers_url": f"{api}/followers",
            "following_url": f"{api}/following{{/other_user}}",
            "gists_url": f"{api}/gists{{/gist_id}}",
            "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{api}/subscriptions",
            "organizations_url": f"{api}/orgs",
            "repos_url": f"{api}/repos",
            "events_url": f"{api}/events{{/privacy}}",
            "received_events_url": f"{api}/received_events",
        }

    def repository(self, repo: Repo) -> dict[str, Any]:
        api = f"{self.api_url}/repos/{repo.full_name}"
        return {
            "id": repo.id,
            "node_id": f"R_{repo.id}",
            "name": repo.full_name.split("/")[1],
            "full_name": repo.full_name,
            "owner": self.user(repo.owner),
            "private": repo.private,
            "fork": repo.fork,
            "default_branch": repo.default_branch,
            "url": api,
            "html_url": f"{self.origin}/{repo.full_name}",
            "pulls_url": f"{api}/pulls{{/number}}",
            "issues_url": f"{api}/issues{{/number}}",
        }

    def _part(self, repo_name: str, ref: str, sha: str) -> dict[str, Any]:
        repo = self.repo(repo_name)
        return {
            "label": f"{repo.owner.login}:{ref}",
            "ref": ref,
            "sha": sha,
            "user": self.user(repo.owner),
            "repo": self.repository(repo),
        }

    def pull(self, pull: Pull) -> dict[str, Any]:
        api = f"{self.api_url}/repos/{pull.repo}"
        return {
            "id": pull.number * 1000 + 7,
            "node_id": f"PR_{pull.number}",
            "number": pull.number,
            "state": pull.state,
            "title": pull.title,
            "user": self.user(pull.author),
            "draft": False,
            "merged": False,
            "url": f"{api}/pulls/{pull.number}",
            "html_url": f"{self.origin}/{pull.repo}/pull/{pull.number}",
            "issue_url": f"{api}/issues/{pull.number}",
            "comments_url": f"{api}/issues/{pull.number}/comments",
            "statuses_url": f"{api}/statuses/{pull.head_sha}",
            "head": self._part(pull.head_repo, pull.head_ref, pull.head_sha),
            "base": self._part(pull.repo, pull.base_ref, pull.base_sha),
        }

    def issue(self, pull: Pull) -> dict[str, Any]:
        data = self.pull(pull)
        data["url"] = data["issue_url"]
        data["pull_request"] = {"url": f"{self.api_url}/repos/{pull.repo}/pulls/{pull.number}"}
        return data

    def comment(self, comment: Comment) -> dict[str, Any]:
        api = f"{self.api_url}/repos/{comment.repo}"
        page = f"{self.origin}/{comment.repo}/pull/{comment.issue}"
        return {
            "id": comment.id,
            "node_id": f"IC_{comment.id}",
            "url": f"{api}/issues/comments/{comment.id}",
            "html_url": f"{page}#issuecomment-{comment.id}",
            "issue_url": f"{api}/issues/{comment.issue}",
            "body": comment.body,
            "user": self.user(comment.author),
            "created_at": comment.created_at,
            "updated_at": comment.updated_at,
            "author_association": "NONE" if comment.author.type == "Bot" else "CONTRIBUTOR",
            "performed_via_github_app": None,
        }

    def check_run(self, run: CheckRun) -> dict[str, Any]:
        api = f"{self.api_url}/repos/{run.repo}"
        return {
            "id": run.id,
            "node_id": f"CR_{run.id}",
            "name": run.name,
            "head_sha": run.head_sha,
            "external_id": run.external_id,
            "url": f"{api}/check-runs/{run.id}",
            "html_url": f"{self.origin}/{run.repo}/runs/{run.id}",
            "details_url": run.details_url,
            "status": run.status,
            "conclusion": run.conclusion,
            "started_at": run.started_at,
            "completed_at": run.completed_at,
            "output": {
                "title": run.output.get("title"),
                "summary": run.output.get("summary"),
                "text": run.output.get("text"),
                "annotations_count": run.annotations,
                "annotations_url": f"{api}/check-runs/{run.id}/annotations",
            },
            "check_suite": {"id": 5_000_000 + run.id},
            "app": {"id": 15368, "slug": "github-actions", "name": "GitHub Actions"},
            "pull_requests": [],
        }

    def status(self, status: Status) -> dict[str, Any]:
        return {
            "id": status.id,
            "node_id": f"SC_{status.id}",
            "url": f"{self.api_url}/repos/{status.repo}/statuses/{status.sha}",
            "avatar_url": f"{self.origin}/avatars/{status.creator.id}",
            "state": status.state,
            "description": status.description,
            "target_url": status.target_url,
            "context": status.context,
            "created_at": status.created_at,
            "updated_at": status.created_at,
            "creator": self.user(status.creator),
        }

    def commit(self, repo: Repo, commit: GitCommit, *, detail: bool = False) -> dict[str, Any]:
        """A commit as the commits listing and the compare endpoint give it; `detail` (the
        single-commit endpoint) adds the stats and the files."""
        api = f"{self.api_url}/repos/{repo.full_name}"
        sha = commit.sha
        tree = hashlib.sha1(f"tree {sha}".encode(), usedforsecurity=False).hexdigest()
        person = {"name": OCTOCAT.login, "email": "octocat@github.com", "date": commit.date}
        data: dict[str, Any] = {
            "sha": sha,
            "node_id": f"C_{sha}",
            "url": f"{api}/commits/{sha}",
            "html_url": f"{self.origin}/{repo.full_name}/commit/{sha}",
            "comments_url": f"{api}/commits/{sha}/comments",
            "commit": {
                "url": f"{api}/git/commits/{sha}",
                "author": person,
                "committer": person,
                "message": commit.message,
                "comment_count": 0,
                "tree": {"sha": tree, "url": f"{api}/git/trees/{tree}"},
                "verification": {
                    "verified": False,
                    "reason": "unsigned",
                    "payload": None,
                    "signature": None,
                    "verified_at": None,
                },
            },
            # The GitHub account of the commit's email (GitHub sends null when none matches).
            "author": self.user(OCTOCAT),
            "committer": self.user(OCTOCAT),
            "parents": [
                {
                    "sha": parent,
                    "url": f"{api}/commits/{parent}",
                    "html_url": f"{self.origin}/{repo.full_name}/commit/{parent}",
                }
                for parent in commit.parents
            ],
        }
        if detail:
            data["stats"] = {"additions": 0, "deletions": 0, "total": 0}
            data["files"] = []
        return data

    def comparison(
        self,
        repo: Repo,
        basehead: str,
        *,
        base: GitCommit,
        head: GitCommit,
        merge_base: GitCommit,
        status: str,
        ahead_by: int,
        behind_by: int,
        commits: list[GitCommit],
    ) -> dict[str, Any]:
        html = f"{self.origin}/{repo.full_name}/compare/{basehead}"
        owner = repo.owner.login
        return {
            "url": f"{self.api_url}/repos/{repo.full_name}/compare/{basehead}",
            "html_url": html,
            "permalink_url": (
                f"{self.origin}/{repo.full_name}/compare/{owner}:{base.sha}...{owner}:{head.sha}"
            ),
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "base_commit": self.commit(repo, base),
            "merge_base_commit": self.commit(repo, merge_base),
            "status": status,
            "ahead_by": ahead_by,
            "behind_by": behind_by,
            "total_commits": ahead_by,
            "commits": [self.commit(repo, c) for c in commits],
            "files": [],
        }

    def artifact(self, artifact: WorkflowArtifact) -> dict[str, Any]:
        api = f"{self.api_url}/repos/{artifact.repo}/actions/artifacts/{artifact.id}"
        repo = self.repo(artifact.repo)
        return {
            "id": artifact.id,
            "node_id": f"MDg6QXJ0aWZhY3Q{artifact.id}",
            "name": artifact.name,
            "size_in_bytes": artifact.size_in_bytes,
            "url": api,
            "archive_download_url": f"{api}/zip",
            "expired": artifact.expired,
            "digest": None,
            "created_at": artifact.created_at,
            "expires_at": artifact.created_at,
            "updated_at": artifact.created_at,
            "workflow_run": {
                "id": artifact.run_id,
                "repository_id": repo.id,
                "head_repository_id": repo.id,
                "head_branch": artifact.head_branch,
                "head_sha": artifact.head_sha,
            },
        }

    def page(
        self, items: list[Any], query: dict[str, str], link_path: str
    ) -> tuple[list[Any], dict[str, str]]:
        """GitHub's paging: `per_page` (default 30, at most 100) and `page`, with a `Link`
        header (next, last, first, prev) on the fake's origin."""
        per_page = min(max(_int(query.get("per_page"), 30), 1), 100)
        page = max(_int(query.get("page"), 1), 1)
        last = max(math.ceil(len(items) / per_page), 1)
        others = {k: v for k, v in query.items() if k not in ("page", "per_page")}

        def link(number: int, rel: str) -> str:
            params = urlencode(others | {"per_page": per_page, "page": number})
            return f'<{self.api_url}{link_path}?{params}>; rel="{rel}"'

        links = []
        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        if page > 1:
            links += [link(1, "first"), link(page - 1, "prev")]
        chunk = items[(page - 1) * per_page : page * per_page]
        return chunk, ({"Link": ", ".join(links)} if links else {})


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default
