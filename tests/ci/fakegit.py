"""A `GitReader` that answers from fields, for the context's tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from driftgate.ci.git import GitError, UnknownRevision

PR128_HEAD = "0d8a9158de78b4e4463172bc214f7503190ff54a"


@dataclass
class FakeGit:
    """A `GitReader` answering from fields; `merge_bases` maps (a, b) to the answer."""

    repo: bool = True
    head: str = PR128_HEAD
    branch: str | None = "prompt/refund-policy"
    default: str | None = "main"
    merge_bases: dict[tuple[str, str], str | None] = field(default_factory=dict)
    shallow: bool = False
    remote: str | None = "https://github.com/acme-ai/support-bot"
    fail: GitError | None = None
    asked: list[tuple[str, str]] = field(default_factory=list)

    def is_repo(self) -> bool:
        if self.fail:
            raise self.fail
        return self.repo

    def head_sha(self) -> str:
        return self.head

    def current_branch(self) -> str | None:
        return self.branch

    def default_branch(self) -> str | None:
        return self.default

    def merge_base(self, a: str, b: str) -> str | None:
        self.asked.append((a, b))
        if (a, b) not in self.merge_bases:
            raise UnknownRevision(f"`git merge-base {a} {b}`: fatal: Not a valid object name {b}")
        return self.merge_bases[(a, b)]

    def is_shallow(self) -> bool:
        return self.shallow

    def remote_url(self) -> str | None:
        return self.remote
