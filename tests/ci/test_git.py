"""driftgate.ci.git against real git, in throwaway repositories under tmp_path."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from driftgate.ci import git
from driftgate.ci.git import (
    DubiousOwnership,
    GitError,
    GitRepo,
    NoCommits,
    NotARepository,
    UnknownRevision,
    changed_files,
    normalize_remote_url,
    redact,
)
from tests.ci.isolated import isolated_git

__all__ = ["isolated_git"]  # the autouse fixture, shared


def sh(cwd: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return proc.stdout.strip()


def commit(cwd: Path, message: str) -> str:
    sh(cwd, "commit", "--quiet", "--allow-empty", "-m", message)
    return sh(cwd, "rev-parse", "HEAD")


def init(path: Path, branch: str = "main") -> Path:
    path.mkdir(parents=True, exist_ok=True)
    sh(path, "init", "--quiet", f"--initial-branch={branch}")
    return path


@dataclass
class History:
    """main: c1 - c2 - c3 - merge; feature: c2 - f1 - f2, merged into main with --no-ff."""

    path: Path
    c1: str
    c2: str
    c3: str
    f1: str
    f2: str
    merge: str


@pytest.fixture
def history(tmp_path: Path) -> History:
    repo = init(tmp_path / "repo")
    c1 = commit(repo, "c1")
    c2 = commit(repo, "c2")
    sh(repo, "checkout", "--quiet", "-b", "feature")
    f1 = commit(repo, "f1")
    f2 = commit(repo, "f2")
    sh(repo, "checkout", "--quiet", "main")
    c3 = commit(repo, "c3")
    sh(repo, "merge", "--quiet", "--no-ff", "-m", "merge feature", "feature")
    return History(repo, c1, c2, c3, f1, f2, sh(repo, "rev-parse", "HEAD"))


def test_head_branch_and_default_branch(history: History) -> None:
    assert git.is_repo(history.path)
    assert git.head_sha(history.path) == history.merge
    assert git.current_branch(history.path) == "main"
    assert git.default_branch(history.path) == "main"
    assert not git.is_shallow(history.path)


def test_merge_base_of_feature_and_main(history: History) -> None:
    assert git.merge_base(history.path, "feature", history.c3) == history.c2
    assert git.merge_base(history.path, history.f2, "main") == history.f2  # merged: f2 is in


def test_merge_base_of_unrelated_histories_is_none(history: History) -> None:
    sh(history.path, "checkout", "--quiet", "--orphan", "elsewhere")
    other = commit(history.path, "unrelated root")
    assert git.merge_base(history.path, other, "main") is None


def test_first_parent_ancestors_follow_the_base_branch_through_a_merge(history: History) -> None:
    ancestors = git.first_parent_ancestors(history.path, history.merge, 10)
    assert ancestors == [history.merge, history.c3, history.c2, history.c1]
    assert history.f1 not in ancestors and history.f2 not in ancestors
    assert git.first_parent_ancestors(history.path, "main", 2) == [history.merge, history.c3]
    with pytest.raises(ValueError, match="at least 1"):
        git.first_parent_ancestors(history.path, "main", 0)


def test_unknown_revision(history: History) -> None:
    with pytest.raises(UnknownRevision, match=r"0{39}1"):
        git.first_parent_ancestors(history.path, "0" * 39 + "1", 5)


def test_revisions_that_look_like_options_are_refused(history: History, tmp_path: Path) -> None:
    target = tmp_path / "written"
    with pytest.raises(GitError, match="refusing"):
        git.merge_base(history.path, f"--output={target}", "main")
    with pytest.raises(GitError, match="refusing"):
        git.first_parent_ancestors(history.path, "--all", 5)
    assert not target.exists()


def test_detached_head_has_no_branch(history: History) -> None:
    sh(history.path, "checkout", "--quiet", "--detach", history.c3)
    assert git.current_branch(history.path) is None
    assert git.head_sha(history.path) == history.c3
    assert git.default_branch(history.path) == "main"


def test_default_branch_falls_back_to_master_then_none(tmp_path: Path) -> None:
    repo = init(tmp_path / "old", branch="master")
    commit(repo, "first")
    assert git.default_branch(repo) == "master"
    sh(repo, "branch", "--quiet", "-m", "master", "trunk")
    assert git.default_branch(repo) is None


def test_default_branch_comes_from_origin_head(history: History, tmp_path: Path) -> None:
    sh(history.path, "branch", "--quiet", "-m", "main", "trunk")
    clone = tmp_path / "clone"
    sh(tmp_path, "clone", "--quiet", str(history.path), str(clone))
    sh(clone, "checkout", "--quiet", "-b", "main")  # a local main must not win over origin/HEAD
    assert git.default_branch(clone) == "trunk"


def test_shallow_clone(history: History, tmp_path: Path) -> None:
    clone = tmp_path / "shallow"
    sh(tmp_path, "clone", "--quiet", "--depth", "2", f"file://{history.path}", str(clone))
    assert git.is_shallow(clone)
    assert git.head_sha(clone) == history.merge
    # The list stops where the history was cut.
    assert git.first_parent_ancestors(clone, history.merge, 10) == [history.merge, history.c3]
    # c3 and f2 are here, but where they meet (c2) is not: that is no answer, not "None".
    with pytest.raises(UnknownRevision, match="fetch-depth: 0"):
        git.merge_base(clone, history.c3, history.f2)
    # c1 was never fetched.
    with pytest.raises(UnknownRevision, match="shallow"):
        git.merge_base(clone, history.merge, history.c1)


def test_repository_without_commits(tmp_path: Path) -> None:
    repo = init(tmp_path / "empty")
    assert git.is_repo(repo)
    assert git.current_branch(repo) == "main"
    assert git.default_branch(repo) is None
    with pytest.raises(NoCommits, match="no commits yet"):
        git.head_sha(repo)


def test_not_a_repository(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    assert not git.is_repo(plain)
    with pytest.raises(NotARepository, match="not inside a git repository") as raised:
        git.head_sha(plain)
    assert str(plain) in str(raised.value)
    assert raised.value.command[:2] == ("git", "rev-parse")


def test_missing_directory(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    assert not git.is_repo(missing)
    with pytest.raises(NotARepository, match="does not exist"):
        git.head_sha(missing)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs chown")
def test_dubious_ownership_names_the_fix(history: History) -> None:
    subprocess.run(["chown", "-R", "54321:54321", str(history.path)], check=True)
    path = str(history.path.resolve())
    fix = f"git config --global --add safe.directory {path}"
    with pytest.raises(DubiousOwnership) as raised:
        git.head_sha(history.path)
    assert raised.value.fix == fix
    assert fix in str(raised.value)
    # Not "not a repository": the answer is one command away.
    with pytest.raises(DubiousOwnership):
        git.is_repo(history.path)
    sh(history.path.parent, *fix.split()[1:])
    assert git.head_sha(history.path) == history.merge


def test_remote_url_never_carries_credentials(history: History) -> None:
    assert git.remote_url(history.path) is None
    sh(
        history.path,
        "remote",
        "add",
        "origin",
        "https://x-access-token:ghs_s3cret@github.com/o/r.git",
    )
    url = git.remote_url(history.path)
    assert url == "https://github.com/o/r"
    sh(history.path, "remote", "set-url", "origin", "git@github.com:o/r.git")
    assert git.remote_url(history.path) == "https://github.com/o/r"
    sh(history.path, "remote", "set-url", "origin", "/srv/git/r.git")
    assert git.remote_url(history.path) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://github.com/o/r.git", "https://github.com/o/r"),
        ("https://github.com/o/r/", "https://github.com/o/r"),
        ("https://user:pass@github.com/o/r.git", "https://github.com/o/r"),
        ("https://ghp_token@GitHub.com/o/r", "https://github.com/o/r"),
        ("https://github.com:443/o/r?x=1#y", "https://github.com/o/r"),
        ("https://ghe.example.com:8443/team/r.git", "https://ghe.example.com:8443/team/r"),
        ("http://user:pw@127.0.0.1:8080/o/r", "http://127.0.0.1:8080/o/r"),
        ("git@github.com:o/r.git", "https://github.com/o/r"),
        ("user:pw@github.com:o/r.git", "https://github.com/o/r"),
        ("ssh://git@github.com:22/o/r.git", "https://github.com/o/r"),
        ("git+ssh://git@github.com/o/r", "https://github.com/o/r"),
        ("git://github.com/o/r.git", "https://github.com/o/r"),
        ("ssh://git@[::1]/o/r", "https://[::1]/o/r"),
        ("file:///srv/git/r.git", None),
        ("/srv/git/r.git", None),
        ("../r", None),
        ("C:\\repos\\r", None),
        ("", None),
    ],
)
def test_normalize_remote_url(raw: str, expected: str | None) -> None:
    assert normalize_remote_url(raw) == expected


def test_redact_hides_url_credentials() -> None:
    text = "fatal: unable to access 'https://x-access-token:ghs_abc@github.com/o/r.git/': 403"
    assert "ghs_abc" not in redact(text)
    assert "https://***@github.com/o/r.git/" in redact(text)


def test_timeout_is_a_git_error(history: History) -> None:
    with pytest.raises(GitError, match="did not finish"):
        git.head_sha(history.path, timeout=1e-9)


def test_a_timeout_stops_what_git_started_too(tmp_path: Path) -> None:
    # A command git runs (as it runs a remote helper or ssh) that would outlive a killed git.
    pid_file = tmp_path / "child.pid"
    hang = f"!sleep 300 & echo $! > {pid_file}; wait"
    started = time.monotonic()
    with pytest.raises(git.GitTimeout, match=r"did not finish within 0\.5 s"):
        git.run(tmp_path, "-c", f"alias.hang={hang}", "hang", timeout=0.5)
    assert time.monotonic() - started < 10
    stat = Path(f"/proc/{int(pid_file.read_text())}/stat")
    assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"


def test_run_gives_bytes_takes_stdin_and_env_and_checked_raises(history: History) -> None:
    blob = git.run(history.path, "hash-object", "-w", "--stdin", input=b"\xff\x00data")
    assert blob.returncode == 0
    oid = blob.stdout.decode().strip()
    assert git.checked(history.path, "cat-file", "blob", oid) == b"\xff\x00data"
    ident = git.checked(history.path, "var", "GIT_AUTHOR_IDENT", env={"GIT_AUTHOR_NAME": "Env"})
    assert ident.startswith(b"Env <")
    missing = git.run(history.path, "cat-file", "blob", "0" * 40)
    assert missing.returncode != 0 and missing.stderr
    with pytest.raises(UnknownRevision):
        git.checked(history.path, "log", "-1", "no-such-branch", "--")


def test_git_repo_binds_a_directory(history: History) -> None:
    repo = GitRepo(history.path)
    assert repo.is_repo()
    assert repo.head_sha() == history.merge
    assert repo.current_branch() == "main"
    assert repo.default_branch() == "main"
    assert repo.merge_base("feature", history.c3) == history.c2
    assert repo.first_parent_ancestors("HEAD", 2) == [history.merge, history.c3]
    assert not repo.is_shallow()
    assert repo.remote_url() is None


def test_changed_files_are_tracked_changes_outside_driftgates_own_folder(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "sub").mkdir(parents=True)
    (repo / ".driftgate").mkdir()
    for name in ("a.py", "b.py", "sub/c.py", ".driftgate/store.db"):
        (repo / name).write_text("1\n")

    def sh(*args: str) -> None:
        identity = ["-c", "user.name=T", "-c", "user.email=t@example.com"]
        subprocess.run(["git", *identity, *args], cwd=repo, check=True, capture_output=True)

    sh("init", "--quiet", "-b", "main")
    sh("add", ".")  # .driftgate committed by mistake, as `git add .` does without a .gitignore
    sh("commit", "--quiet", "-m", "one")
    assert changed_files(repo) == []
    (repo / ".driftgate" / "store.db").write_text("2\n")
    (repo / "new.py").write_text("untracked\n")
    assert changed_files(repo, ignore=(".driftgate",)) == []
    assert changed_files(repo / "sub", ignore=(".driftgate",)) == []  # from a subdirectory too
    (repo / "a.py").write_text("2\n")
    sh("mv", "b.py", "renamed.py")
    (repo / "sub" / "c.py").write_text("2\n")
    assert sorted(changed_files(repo / "sub", ignore=(".driftgate",))) == [
        "a.py",
        "renamed.py",
        "sub/c.py",
    ]
    assert ".driftgate/store.db" in changed_files(repo)
