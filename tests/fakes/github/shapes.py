"""The JSON the fake answers, shaped like GitHub's, with every URL on the fake's origin."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

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

# When the fake's repositories, users and apps were created.
CREATED = "2020-01-01T00:00:00Z"


@dataclass(frozen=True)
class Shapes:
    origin: str
    api_url: str
    repo: Callable[[str], Repo]
    # Where artifact zips are served: another host than the API's, like GitHub's storage.
    storage: str = ""

    def user(self, actor: Actor) -> dict[str, Any]:
        """GitHub's "Simple User"."""
        login = quote(actor.login)
        api = f"{self.api_url}/users/{login}"
        return {
            "login": actor.login,
            "id": actor.id,
            "node_id": f"U_{actor.id}",
            "type": actor.type,
            "site_admin": False,
            "gravatar_id": "",
            "url": api,
            "html_url": f"{self.origin}/{login}",
            "avatar_url": f"{self.origin}/avatars/{actor.id}",
            "events_url": f"{api}/events{{/privacy}}",
            "followers_url": f"{api}/followers",
            "following_url": f"{api}/following{{/other_user}}",
            "gists_url": f"{api}/gists{{/gist_id}}",
            "organizations_url": f"{api}/orgs",
            "received_events_url": f"{api}/received_events",
            "repos_url": f"{api}/repos",
            "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{api}/subscriptions",
        }

    def private_user(self, actor: Actor) -> dict[str, Any]:
        """`GET /user`: the authenticated user, with the fields only its owner sees."""
        return self.user(actor) | {
            "name": None,
            "company": None,
            "blog": "",
            "location": None,
            "email": None,
            "hireable": None,
            "bio": None,
            "public_repos": 0,
            "public_gists": 0,
            "followers": 0,
            "following": 0,
            "created_at": CREATED,
            "updated_at": CREATED,
            "private_gists": 0,
            "total_private_repos": 0,
            "owned_private_repos": 0,
            "disk_usage": 0,
            "collaborators": 0,
            "two_factor_authentication": True,
        }

    def repository(self, repo: Repo) -> dict[str, Any]:
        """GitHub's "Repository" (in pull requests); `full_repository` adds the rest."""
        api = f"{self.api_url}/repos/{repo.full_name}"
        html = f"{self.origin}/{repo.full_name}"
        host = urlsplit(self.origin).netloc or "github.invalid"
        templates = {
            "archive_url": "/{archive_format}{/ref}",
            "assignees_url": "/assignees{/user}",
            "blobs_url": "/git/blobs{/sha}",
            "branches_url": "/branches{/branch}",
            "collaborators_url": "/collaborators{/collaborator}",
            "comments_url": "/comments{/number}",
            "commits_url": "/commits{/sha}",
            "compare_url": "/compare/{base}...{head}",
            "contents_url": "/contents/{+path}",
            "contributors_url": "/contributors",
            "deployments_url": "/deployments",
            "downloads_url": "/downloads",
            "events_url": "/events",
            "forks_url": "/forks",
            "git_commits_url": "/git/commits{/sha}",
            "git_refs_url": "/git/refs{/sha}",
            "git_tags_url": "/git/tags{/sha}",
            "hooks_url": "/hooks",
            "issue_comment_url": "/issues/comments{/number}",
            "issue_events_url": "/issues/events{/number}",
            "issues_url": "/issues{/number}",
            "keys_url": "/keys{/key_id}",
            "labels_url": "/labels{/name}",
            "languages_url": "/languages",
            "merges_url": "/merges",
            "milestones_url": "/milestones{/number}",
            "notifications_url": "/notifications{?since,all,participating}",
            "pulls_url": "/pulls{/number}",
            "releases_url": "/releases{/id}",
            "stargazers_url": "/stargazers",
            "statuses_url": "/statuses/{sha}",
            "subscribers_url": "/subscribers",
            "subscription_url": "/subscription",
            "tags_url": "/tags",
            "teams_url": "/teams",
            "trees_url": "/git/trees{/sha}",
        }
        return {
            "id": repo.id,
            "node_id": f"R_{repo.id}",
            "name": repo.full_name.split("/")[1],
            "full_name": repo.full_name,
            "owner": self.user(repo.owner),
            "private": repo.private,
            "visibility": "private" if repo.private else "public",
            "fork": repo.fork,
            "description": None,
            "homepage": None,
            "language": "Python",
            "license": None,
            "default_branch": repo.default_branch,
            "url": api,
            "html_url": html,
            **{name: api + tail for name, tail in templates.items()},
            "clone_url": f"{html}.git",
            "git_url": f"git://{host}/{repo.full_name}.git",
            "ssh_url": f"git@{host}:{repo.full_name}.git",
            "svn_url": html,
            "mirror_url": None,
            "archived": False,
            "disabled": False,
            "has_issues": True,
            "has_projects": True,
            "has_wiki": True,
            "has_pages": False,
            "has_downloads": True,
            "forks": 0,
            "forks_count": 0,
            "open_issues": 0,
            "open_issues_count": 0,
            "size": 0,
            "stargazers_count": 0,
            "watchers": 0,
            "watchers_count": 0,
            "created_at": CREATED,
            "updated_at": CREATED,
            "pushed_at": CREATED,
        }

    def full_repository(self, repo: Repo) -> dict[str, Any]:
        """`GET /repos/{owner}/{repo}`: GitHub's "Full Repository"."""
        return self.repository(repo) | {
            "has_discussions": False,
            "network_count": 0,
            "subscribers_count": 0,
        }

    def _part(self, repo_name: str, ref: str, sha: str) -> dict[str, Any]:
        repo = self.repo(repo_name)
        return {
            "label": f"{repo.owner.login}:{ref}",
            "ref": ref,
            "sha": sha,
            "user": self.user(repo.owner),
            # GitHub sends null once the fork the pull request came from is deleted.
            "repo": None if repo.deleted else self.repository(repo),
        }

    def pull(self, pull: Pull) -> dict[str, Any]:
        api = f"{self.api_url}/repos/{pull.repo}"
        html = f"{self.origin}/{pull.repo}/pull/{pull.number}"
        links = {
            "self": f"{api}/pulls/{pull.number}",
            "html": html,
            "issue": f"{api}/issues/{pull.number}",
            "comments": f"{api}/issues/{pull.number}/comments",
            "review_comments": f"{api}/pulls/{pull.number}/comments",
            "review_comment": f"{api}/pulls/comments{{/number}}",
            "commits": f"{api}/pulls/{pull.number}/commits",
            "statuses": f"{api}/statuses/{pull.head_sha}",
        }
        return {
            "id": pull.number * 1000 + 7,
            "node_id": f"PR_{pull.number}",
            "number": pull.number,
            "state": pull.state,
            "locked": False,
            "title": pull.title,
            "body": None,
            "user": self.user(pull.author),
            "author_association": "CONTRIBUTOR",
            "draft": False,
            "merged": False,
            "mergeable": None,
            "mergeable_state": "unknown",
            "merged_by": None,
            "merge_commit_sha": None,
            "maintainer_can_modify": False,
            "auto_merge": None,
            "assignee": None,
            "assignees": [],
            "requested_reviewers": [],
            "requested_teams": [],
            "labels": [],
            "milestone": None,
            "created_at": pull.created_at,
            "updated_at": pull.created_at,
            "closed_at": None,
            "merged_at": None,
            "url": links["self"],
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "issue_url": links["issue"],
            "comments_url": links["comments"],
            "commits_url": links["commits"],
            "review_comments_url": links["review_comments"],
            "review_comment_url": links["review_comment"],
            "statuses_url": links["statuses"],
            "head": self._part(pull.head_repo, pull.head_ref, pull.head_sha),
            "base": self._part(pull.repo, pull.base_ref, pull.base_sha),
            "_links": {name: {"href": href} for name, href in links.items()},
            "comments": 0,
            "review_comments": 0,
            "commits": 1,
            "additions": 1,
            "deletions": 0,
            "changed_files": 1,
        }

    def issue(self, pull: Pull) -> dict[str, Any]:
        """The issue side of a pull request (`GET /repos/{o}/{r}/issues/{n}`)."""
        api = f"{self.api_url}/repos/{pull.repo}"
        issue = f"{api}/issues/{pull.number}"
        return {
            "id": pull.number * 1000 + 8,
            "node_id": f"I_{pull.number}",
            "number": pull.number,
            "title": pull.title,
            "body": None,
            "user": self.user(pull.author),
            "author_association": "CONTRIBUTOR",
            "state": pull.state,
            "locked": False,
            "assignee": None,
            "assignees": [],
            "labels": [],
            "milestone": None,
            "comments": 0,
            "created_at": pull.created_at,
            "updated_at": pull.created_at,
            "closed_at": None,
            "url": issue,
            "html_url": f"{self.origin}/{pull.repo}/pull/{pull.number}",
            "repository_url": api,
            "labels_url": f"{issue}/labels{{/name}}",
            "comments_url": f"{issue}/comments",
            "events_url": f"{issue}/events",
            "pull_request": {
                "url": f"{api}/pulls/{pull.number}",
                "html_url": f"{self.origin}/{pull.repo}/pull/{pull.number}",
                "diff_url": f"{self.origin}/{pull.repo}/pull/{pull.number}.diff",
                "patch_url": f"{self.origin}/{pull.repo}/pull/{pull.number}.patch",
                "merged_at": None,
            },
        }

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

    def actions_app(self) -> dict[str, Any]:
        """The GitHub Actions app, which owns the check runs an Actions token creates."""
        owner = Actor("github", 9919, "Organization")
        return {
            "id": 15368,
            "slug": "github-actions",
            "node_id": "A_15368",
            "owner": self.user(owner),
            "name": "GitHub Actions",
            "description": "Automate your workflow from idea to production",
            "external_url": "https://help.github.com/en/actions",
            "html_url": f"{self.origin}/apps/github-actions",
            "created_at": CREATED,
            "updated_at": CREATED,
            "permissions": {"checks": "write", "statuses": "write", "pull_requests": "write"},
            "events": ["check_run", "check_suite", "pull_request", "push"],
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
            "app": self.actions_app(),
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
