"""The data branch (ci/databranch.py) against real git: a bare remote under tmp_path, clones
of it made as actions/checkout makes them (`--depth 1`, or complete), writers that race for
real (threads, processes), and a smart-HTTP remote that refuses pushes as GitHub does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from driftgate.ci.databranch import (
    STATUSES,
    Backoff,
    DataBranch,
    Identity,
    ReadLimits,
    ReadOutcome,
    WriteOutcome,
    keep_newest,
)
from tests.ci import git_http
from tests.ci.isolated import isolated_git

__all__ = ["isolated_git"]  # the autouse fixture, shared

FAST = Backoff(first_s=0.05, max_s=0.4)


def git(cwd: Path, *args: str, input: bytes | None = None) -> str:
    out = subprocess.run(
        ["git", *args], cwd=cwd, input=input, capture_output=True, check=True, timeout=60
    )
    return out.stdout.decode().strip()


@dataclass
class Remote:
    """A bare repository with `main` (two commits), as GitHub holds the user's repository."""

    path: Path

    @property
    def url(self) -> str:
        return self.path.as_uri()

    def clone(self, into: Path, *, depth: int | None = 1) -> Path:
        # file:// so that --depth is honoured, as it is over https.
        args = ["clone", "-q", "--branch", "main", *(["--depth", str(depth)] if depth else [])]
        git(into.parent, *args, self.url, str(into))
        return into

    def files(self, branch: str = "driftgate-data") -> list[str]:
        return git(self.path, "ls-tree", "-r", "--name-only", branch).splitlines()

    def show(self, path: str, branch: str = "driftgate-data") -> bytes:
        return subprocess.run(
            ["git", "cat-file", "blob", f"{branch}:{path}"],
            cwd=self.path,
            capture_output=True,
            check=True,
        ).stdout

    def hook(self, name: str, script: str) -> None:
        hook = self.path / "hooks" / name
        hook.write_text("#!/bin/sh\n" + script)
        hook.chmod(0o755)

    def barrier(self, writers: int, tmp: Path) -> None:
        """A pre-receive hook that holds each push until `writers` pushes have arrived (or
        10 s): once they are all in, each one fetched the tip before any of them landed.
        Later pushes (the retries) pass at once."""
        arrived = tmp / "arrived"
        arrived.mkdir()
        self.hook(
            "pre-receive",
            f"""cat >/dev/null
touch "{arrived}/$$"
i=0
while [ "$(ls "{arrived}" | wc -l)" -lt {writers} ] && [ "$i" -lt 200 ]; do
  sleep 0.05; i=$((i+1))
done
exit 0
""",
        )


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    seed = tmp_path / "seed"
    seed.mkdir()
    git(seed, "init", "-q", "-b", "main")
    (seed / "README.md").write_text("project\n")
    git(seed, "add", "README.md")
    git(seed, "commit", "-q", "-m", "first")
    (seed / "app.py").write_text("print('hi')\n")
    git(seed, "add", "app.py")
    git(seed, "commit", "-q", "-m", "second")
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(bare))
    return Remote(bare)


def jsonl(n: int) -> bytes:
    return b"".join(b'{"record": %d, "value": %d}\n' % (i, i * n) for i in range(20))


# -- (1) the first write creates the branch; a fresh clone reads it back ---------------------


def test_first_write_is_a_root_commit_and_a_fresh_clone_reads_it(
    remote: Remote, tmp_path: Path
) -> None:
    writer = remote.clone(tmp_path / "writer")
    files = {"runs/capitals/0001-abc.jsonl": jsonl(1), "runs/capitals/0002-def.jsonl": jsonl(2)}

    out = DataBranch(writer).write(files, message="driftgate: record capitals")

    assert out.status == "ok", out.notes
    assert out.pushed and out.attempts == 1
    assert out.added == tuple(sorted(files))
    assert "first commit" in out.notes[0]
    assert git(remote.path, "rev-parse", "driftgate-data") == out.commit
    # A root commit, by the bot, with the message given.
    assert git(remote.path, "rev-list", "--parents", "-n1", "driftgate-data") == out.commit
    author = git(remote.path, "log", "-1", "--format=%an <%ae>|%cn|%s", "driftgate-data")
    assert author == (
        "github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>"
        "|github-actions[bot]|driftgate: record capitals"
    )

    fresh = remote.clone(tmp_path / "fresh")
    read = DataBranch(fresh).read()
    assert read.status == "ok", read.notes
    assert read.commit == out.commit
    assert dict(read.files) == files
    assert not read.bounded and not read.skipped
    assert "read 2 files" in read.notes[0] and "shallow" in read.notes[0]


def test_a_second_write_adds_on_the_tip_and_the_same_files_again_are_no_commit(
    remote: Remote, tmp_path: Path
) -> None:
    writer = remote.clone(tmp_path / "writer")
    branch = DataBranch(writer)
    first = branch.write({"runs/p/0001.jsonl": jsonl(1)})
    second = branch.write({"runs/p/0002.jsonl": jsonl(2)}, identity=Identity("driftgate", "d@x"))

    assert second.status == "ok" and second.pushed
    assert git(remote.path, "rev-parse", "driftgate-data^") == first.commit
    assert remote.files() == ["runs/p/0001.jsonl", "runs/p/0002.jsonl"]
    assert (
        git(remote.path, "log", "-1", "--format=%an <%ae>", "driftgate-data") == "driftgate <d@x>"
    )

    again = branch.write({"runs/p/0002.jsonl": jsonl(2)})
    assert again.status == "ok" and not again.pushed
    assert again.commit == second.commit
    assert git(remote.path, "rev-parse", "driftgate-data") == second.commit

    replaced = branch.write({"runs/p/0002.jsonl": jsonl(99)})
    assert replaced.pushed and replaced.added == ("runs/p/0002.jsonl",)
    assert any("replaced 1 file" in note for note in replaced.notes)
    assert remote.show("runs/p/0002.jsonl") == jsonl(99)


# -- (2), (3) concurrent writers all land ----------------------------------------------------


def test_two_concurrent_writers_both_land_and_one_retried(remote: Remote, tmp_path: Path) -> None:
    seed = remote.clone(tmp_path / "seed-writer")
    base = DataBranch(seed).write({"runs/p/0000.jsonl": jsonl(0)})
    assert base.ok, base.notes
    remote.barrier(2, tmp_path)
    clones = [remote.clone(tmp_path / f"writer{i}") for i in range(2)]
    outcomes: dict[int, WriteOutcome] = {}

    def write(i: int) -> None:
        outcomes[i] = DataBranch(clones[i]).write(
            {f"runs/p/000{i + 1}.jsonl": jsonl(i + 1)}, backoff=FAST
        )

    threads = [threading.Thread(target=write, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert [outcomes[i].status for i in range(2)] == ["ok", "ok"], outcomes
    assert sorted(out.attempts for out in outcomes.values()) == [1, 2]
    retried = next(out for out in outcomes.values() if out.attempts == 2)
    assert any("attempt 2 of 5" in note for note in retried.notes)
    assert remote.files() == ["runs/p/0000.jsonl", "runs/p/0001.jsonl", "runs/p/0002.jsonl"]
    # One line of history: the retried commit is on top of the other writer's.
    tip = git(remote.path, "rev-parse", "driftgate-data")
    assert tip == retried.commit
    assert git(remote.path, "rev-list", "--count", "driftgate-data") == "3"


WRITER = """
import json, sys
from pathlib import Path
from driftgate.ci.databranch import Backoff, DataBranch, keep_newest
out = DataBranch(Path(sys.argv[1])).write(
    {sys.argv[2]: sys.argv[3].encode()},
    backoff=Backoff(first_s=0.05, max_s=0.4),
    retention=keep_newest(10),
)
print(json.dumps({"status": out.status, "attempts": out.attempts, "notes": out.notes}))
"""


def test_four_writer_processes_all_land(remote: Remote, tmp_path: Path) -> None:
    remote.barrier(4, tmp_path)
    clones = [remote.clone(tmp_path / f"writer{i}") for i in range(4)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(clone), f"runs/p{i % 2}/run-{i}.jsonl", f"{i}\n"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i, clone in enumerate(clones)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(json.loads(out))

    assert [r["status"] for r in results] == ["ok"] * 4, results
    attempts = sorted(r["attempts"] for r in results)
    # The branch did not exist: all four built a root commit, so only one could land first.
    assert attempts[0] == 1 and attempts[1] >= 2, results
    assert attempts[-1] <= 4
    assert remote.files() == [
        "runs/p0/run-0.jsonl",
        "runs/p0/run-2.jsonl",
        "runs/p1/run-1.jsonl",
        "runs/p1/run-3.jsonl",
    ]
    assert git(remote.path, "rev-list", "--count", "--max-parents=0", "driftgate-data") == "1"


def test_a_writer_overtaken_every_time_gives_up_with_a_conflict(
    remote: Remote, tmp_path: Path
) -> None:
    seed = remote.clone(tmp_path / "seed-writer")
    assert DataBranch(seed).write({"runs/p/0000.jsonl": b"0\n"}).ok
    # Another writer lands between each of this writer's fetches and its push: the remote's
    # own pre-receive hook moves the branch on before the push's ref update.
    remote.hook(
        "pre-receive",
        f"""cat >/dev/null
unset GIT_DIR GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES
tip=$(git -C "{remote.path}" rev-parse driftgate-data)
tree=$(git -C "{remote.path}" rev-parse "$tip^{{tree}}")
new=$(echo other | git -C "{remote.path}" commit-tree "$tree" -p "$tip")
git -C "{remote.path}" update-ref refs/heads/driftgate-data "$new" "$tip"
exit 0
""",
    )

    out = DataBranch(remote.clone(tmp_path / "late")).write(
        {"runs/p/0001.jsonl": b"1\n"}, attempts=3, backoff=FAST
    )

    assert out.status == "conflict", out.notes
    assert out.attempts == 3
    assert "after 3 attempts" in out.notes[0] and "re-run" in out.notes[0]
    assert "runs/p/0001.jsonl" not in remote.files()


# -- (4) retention ---------------------------------------------------------------------------


def test_retention_keeps_the_newest_n_files_of_each_pipeline(
    remote: Remote, tmp_path: Path
) -> None:
    writer = DataBranch(remote.clone(tmp_path / "writer"))
    keep3 = keep_newest(3)
    assert writer.write({"runs/other/0001.jsonl": b"o\n", "notes/README.md": b"x\n"}).ok
    removed: list[str] = []
    for n in range(1, 6):
        out = writer.write({f"runs/capitals/{n:04d}.jsonl": jsonl(n)}, retention=keep3)
        assert out.ok, out.notes
        removed += out.removed

    assert remote.files() == [
        "notes/README.md",
        "runs/capitals/0003.jsonl",
        "runs/capitals/0004.jsonl",
        "runs/capitals/0005.jsonl",
        "runs/other/0001.jsonl",
    ]
    assert removed == ["runs/capitals/0001.jsonl", "runs/capitals/0002.jsonl"]
    # The history still holds what the retention removed from the tree.
    assert git(remote.path, "cat-file", "-t", "driftgate-data~2:runs/capitals/0001.jsonl") == "blob"


def test_retention_never_removes_the_files_being_written(remote: Remote, tmp_path: Path) -> None:
    writer = DataBranch(remote.clone(tmp_path / "writer"))
    assert writer.write({"runs/p/0005.jsonl": b"5\n"}).ok

    # Older by name than the one file kept: recorded all the same, trimmed by a later write.
    out = writer.write({"runs/p/0001.jsonl": b"1\n"}, retention=keep_newest(1))
    assert out.ok and out.pushed and out.removed == ()
    assert remote.files() == ["runs/p/0001.jsonl", "runs/p/0005.jsonl"]

    later = writer.write({"runs/p/0009.jsonl": b"9\n"}, retention=keep_newest(1))
    assert later.removed == ("runs/p/0001.jsonl", "runs/p/0005.jsonl")
    assert remote.files() == ["runs/p/0009.jsonl"]


def test_keep_newest_is_per_directory_by_name() -> None:
    retire = keep_newest(2, under="runs")
    paths = ["runs/a/1", "runs/a/3", "runs/a/2", "runs/b/9", "runs/a/x/1", "other/1", "other/2"]
    assert sorted(retire(sorted(paths))) == ["runs/a/1"]
    with pytest.raises(ValueError, match="at least one"):
        keep_newest(0)


# -- (5) a missing branch, remote or repository: a status and a note, never an exception -----


def test_no_branch_on_the_remote_yet(remote: Remote, tmp_path: Path) -> None:
    out = DataBranch(remote.clone(tmp_path / "pr")).read()

    assert out == ReadOutcome("no-branch", notes=out.notes)
    assert not out.files and out.commit is None
    assert "no driftgate-data branch on origin yet" in out.notes[0]
    assert "contents: write" in out.notes[0]


def test_no_remote(tmp_path: Path) -> None:
    repo = tmp_path / "local"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")

    read = DataBranch(repo).read()
    write = DataBranch(repo).write({"runs/p/1.jsonl": b"1\n"})

    assert read.status == write.status == "no-remote"
    assert "no remote named origin" in read.notes[0] and "git remote add origin" in read.notes[0]


def test_not_a_repository(tmp_path: Path) -> None:
    out = DataBranch(tmp_path).read()
    assert out.status == "not-a-repository"
    assert "not a git checkout" in out.notes[0] and "actions/checkout" in out.notes[0]
    assert DataBranch(tmp_path / "missing").write({"a": b""}).status == "not-a-repository"


def test_an_unreachable_remote(remote: Remote, tmp_path: Path) -> None:
    clone = remote.clone(tmp_path / "pr")
    git(clone, "remote", "set-url", "origin", (tmp_path / "gone.git").as_uri())

    out = DataBranch(clone).read()

    assert out.status == "unreachable", out.notes
    assert "could not reach origin" in out.notes[0]


def test_a_hung_remote_is_stopped_at_the_timeout(
    remote: Remote, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A remote helper that never answers, and a child of its own that would outlive it.
    helpers = tmp_path / "bin"
    helpers.mkdir()
    pid_file = tmp_path / "child.pid"
    helper = helpers / "git-remote-hang"
    helper.write_text(f'#!/bin/sh\nsleep 300 &\necho $! > "{pid_file}"\nwait\n')
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{helpers}{os.pathsep}{os.environ['PATH']}")
    clone = remote.clone(tmp_path / "pr")
    git(clone, "remote", "set-url", "origin", "hang::nowhere")

    started = time.monotonic()
    out = DataBranch(clone, timeout=1.0).read()
    elapsed = time.monotonic() - started

    assert out.status == "timeout", out.notes
    assert "did not finish within 1 s" in out.notes[0]
    assert elapsed < 15
    child = int(pid_file.read_text())
    assert not _running(child)


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


# -- (6) a push refused for permissions ------------------------------------------------------


def test_a_hook_that_refuses_the_push(remote: Remote, tmp_path: Path) -> None:
    remote.hook(
        "pre-receive",
        "cat >/dev/null\necho 'Permission to acme/bot.git denied to github-actions[bot].' >&2\n"
        "exit 1\n",
    )
    out = DataBranch(remote.clone(tmp_path / "writer")).write({"runs/p/1.jsonl": b"1\n"})

    assert out.status == "denied", out.notes
    assert "contents: write" in out.notes[0]
    assert out.attempts == 1


@pytest.fixture
def http_remote(remote: Remote, tmp_path: Path) -> Remote:
    # An existing data branch, so that the read side is shown to work over HTTP too.
    assert DataBranch(remote.clone(tmp_path / "seed-writer")).write({"runs/p/0.jsonl": b"0\n"}).ok
    return remote


def test_a_read_only_token_over_https_is_denied_with_the_fix(
    http_remote: Remote, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "ghs_0123456789abcdefSECRET"
    monkeypatch.setenv("GITHUB_TOKEN", secret)
    clone = http_remote.clone(tmp_path / "writer")
    with git_http.serve(http_remote.path.parent, "read-only") as base:
        url = base.replace("http://", f"http://x-access-token:{secret}@") + "/remote.git"
        git(clone, "remote", "set-url", "origin", url)
        branch = DataBranch(clone)
        read = branch.read()
        write = branch.write({"runs/p/1.jsonl": b"1\n"})

    assert read.ok and read.files == {"runs/p/0.jsonl": b"0\n"}, read.notes
    assert write.status == "denied", write.notes
    assert "may not push" in write.notes[0] and "permissions: contents: write" in write.notes[0]
    assert "403" in write.notes[0]
    for note in (*read.notes, *write.notes):
        assert secret not in note and "x-access-token" not in note


def test_no_credentials_says_to_keep_persist_credentials(
    http_remote: Remote, tmp_path: Path
) -> None:
    clone = http_remote.clone(tmp_path / "writer")
    with git_http.serve(http_remote.path.parent, "needs-credentials") as base:
        git(clone, "remote", "set-url", "origin", base + "/remote.git")
        out = DataBranch(clone).write({"runs/p/1.jsonl": b"1\n"})

    assert out.status == "denied", out.notes
    assert "no credentials" in out.notes[0] and "persist-credentials: true" in out.notes[0]


def test_a_token_that_may_not_read_is_told_so_on_a_write_too(
    http_remote: Remote, tmp_path: Path
) -> None:
    clone = http_remote.clone(tmp_path / "writer")
    with git_http.serve(http_remote.path.parent, "no-access") as base:
        git(clone, "remote", "set-url", "origin", base + "/remote.git")
        read = DataBranch(clone).read()
        write = DataBranch(clone).write({"runs/p/1.jsonl": b"1\n"})

    for out in (read, write):
        assert out.status == "denied", out.notes
        assert "`contents: read`" in out.notes[0] and "may not push" not in out.notes[0]


# -- (7) the user's checkout is left as it was -----------------------------------------------


def _state(repo: Path) -> dict[str, object]:
    dot = Path(git(repo, "rev-parse", "--absolute-git-dir"))
    return {
        "status": git(repo, "status", "--porcelain=v1", "--untracked-files=all", "--ignored"),
        "head": git(repo, "rev-parse", "HEAD"),
        "symbolic": git(repo, "symbolic-ref", "-q", "HEAD"),
        "refs": git(repo, "for-each-ref", "refs/heads", "refs/remotes", "refs/tags"),
        "shallow": git(repo, "rev-parse", "--is-shallow-repository"),
        "index": (dot / "index").read_bytes(),
        "config": (dot / "config").read_bytes(),
        "fetch_head": (dot / "FETCH_HEAD").read_bytes() if (dot / "FETCH_HEAD").exists() else None,
        "files": sorted(str(p.relative_to(repo)) for p in repo.rglob("*") if ".git" not in p.parts),
    }


@pytest.mark.parametrize("depth", [1, None], ids=["shallow", "complete"])
def test_the_checkout_is_untouched_by_reads_and_writes(
    remote: Remote, tmp_path: Path, depth: int | None
) -> None:
    clone = remote.clone(tmp_path / "user", depth=depth)
    # The user's own setup that must not take part: a pre-push hook that fails, a clean
    # filter on *.jsonl that fails, a work-in-progress edit, a staged file, a fetch refspec.
    (clone / ".git" / "hooks" / "pre-push").write_text("#!/bin/sh\nexit 1\n")
    (clone / ".git" / "hooks" / "pre-push").chmod(0o755)
    git(clone, "config", "filter.broken.clean", "false")
    git(clone, "config", "filter.broken.required", "true")
    (clone / ".gitattributes").write_text("*.jsonl filter=broken\n")
    (clone / "app.py").write_text("print('edited')\n")
    (clone / "new.txt").write_text("staged\n")
    git(clone, "add", "new.txt")
    (clone / "sub").mkdir()
    before = _state(clone)

    first = DataBranch(clone).read()
    written = DataBranch(clone / "sub").write({"runs/p/0001.jsonl": jsonl(1)})
    again = DataBranch(clone).write({"runs/p/0002.jsonl": jsonl(2)})
    read = DataBranch(clone / "sub").read()

    assert first.status == "no-branch"
    assert written.ok and again.ok, (written.notes, again.notes)
    assert read.files == {"runs/p/0001.jsonl": jsonl(1), "runs/p/0002.jsonl": jsonl(2)}
    assert remote.show("runs/p/0001.jsonl") == jsonl(1)  # no filter ran on the data
    assert _state(clone) == before
    # The one trace: the private ref, at the pushed commit.
    assert git(clone, "rev-parse", "refs/driftgate/driftgate-data") == again.commit
    how = "its tip (the checkout is shallow)" if depth else "its history"
    assert how in read.notes[0]


# -- (8) hostile content on the branch -------------------------------------------------------


def _hostile_branch(remote: Remote, tmp_path: Path) -> None:
    """A data branch written by someone else with plumbing: a huge file, a symbolic link to a
    secret, a submodule entry, `..` and `.git` parts, a terminal escape, a line break and a
    byte that is not UTF-8 in names, beside two plain files."""
    work = tmp_path / "attacker"
    work.mkdir()
    git(work, "init", "-q", "--bare")

    def blob(data: bytes) -> str:
        return git(work, "hash-object", "-w", "--stdin", input=data)

    def tree(entries: list[tuple[str, str, str, bytes]]) -> str:
        lines = b"".join(
            f"{mode} {kind} {oid}\t".encode() + name + b"\0" for mode, kind, oid, name in entries
        )
        return git(work, "mktree", "-z", "--missing", input=lines)

    good = blob(b"good\n")
    inner = tree([("100644", "blob", blob(b"escaped\n"), b"evil.jsonl")])
    pipeline = tree(
        [
            ("100644", "blob", good, b"0001.jsonl"),
            ("100755", "blob", blob(b"also good\n"), b"0002.jsonl"),
            ("100644", "blob", blob(b"x" * 5000), b"huge.jsonl"),
            ("120000", "blob", blob(b"/etc/passwd"), b"link.jsonl"),
            ("160000", "commit", "1" * 40, b"module"),
            ("040000", "tree", inner, b".."),
            ("040000", "tree", inner, b".git"),
            ("100644", "blob", good, b"red\x1b[31m.jsonl"),
            ("100644", "blob", good, b"two\nlines.jsonl"),
            ("100644", "blob", good, b"latin\xff.jsonl"),
        ]
    )
    root = tree([("040000", "tree", tree([("040000", "tree", pipeline, b"p")]), b"runs")])
    commit = git(work, "commit-tree", root, "-m", "hostile")
    git(work, "push", "-q", str(remote.path), f"{commit}:refs/heads/driftgate-data")


def test_hostile_entries_are_skipped_and_said_never_followed(
    remote: Remote, tmp_path: Path
) -> None:
    _hostile_branch(remote, tmp_path)
    clone = remote.clone(tmp_path / "pr")

    out = DataBranch(clone).read(limits=ReadLimits(max_file_bytes=1000))

    assert out.status == "ok", out.notes
    assert out.files == {"runs/p/0001.jsonl": b"good\n", "runs/p/0002.jsonl": b"also good\n"}
    why = {s.path: s.why for s in out.skipped}
    assert why["runs/p/huge.jsonl"].startswith("5000 bytes, over the limit")
    assert why["runs/p/link.jsonl"] == "a symbolic link"
    assert why["runs/p/module"] == "a submodule entry"
    assert why["runs/p/../evil.jsonl"] == "an empty, `.` or `..` part"
    assert why["runs/p/.git/evil.jsonl"] == "a `.git` part"
    assert why["runs/p/red\\u001b[31m.jsonl"].startswith("control")
    assert why["runs/p/two\\u000alines.jsonl"].startswith("control")
    assert why["runs/p/latin\\xff.jsonl"] == "a name that is not UTF-8"
    assert len(out.skipped) == 8
    assert any("skipped 8 entries" in note for note in out.notes)
    for note in out.notes:
        assert "\x1b" not in note and "\n" not in note
    assert not out.bounded


def test_limits_on_count_and_total_say_what_was_left(remote: Remote, tmp_path: Path) -> None:
    writer = DataBranch(remote.clone(tmp_path / "writer"))
    assert writer.write({f"runs/p/{n:04d}.jsonl": b"x" * 100 for n in range(5)}).ok
    branch = DataBranch(remote.clone(tmp_path / "pr"))

    by_count = branch.read(limits=ReadLimits(max_files=2))
    by_size = branch.read(limits=ReadLimits(max_total_bytes=250))

    for out in (by_count, by_size):
        assert out.ok and out.bounded
        assert sorted(out.files) == ["runs/p/0000.jsonl", "runs/p/0001.jsonl"]
        assert any("3 more files under runs/ left unread" in note for note in out.notes)


def test_select_reads_only_the_files_it_accepts_and_they_alone_count_to_the_limits(
    remote: Remote, tmp_path: Path
) -> None:
    writer = DataBranch(remote.clone(tmp_path / "writer"))
    assert writer.write({f"runs/p/{n:04d}.jsonl": b"x" * 100 for n in range(5)}).ok
    branch = DataBranch(remote.clone(tmp_path / "pr"))

    out = branch.read(select=lambda path: path.endswith(("1.jsonl", "3.jsonl")))

    assert out.ok
    assert not out.bounded
    assert out.files == {"runs/p/0001.jsonl": b"x" * 100, "runs/p/0003.jsonl": b"x" * 100}
    assert "read 2 files (200 B) under runs/" in out.notes[0]
    assert out.notes[0].endswith("; 3 others not needed")
    tight = branch.read(limits=ReadLimits(max_files=2), select=lambda p: p.endswith("4.jsonl"))
    assert list(tight.files) == ["runs/p/0004.jsonl"]
    assert not tight.bounded


def test_a_prefix_reads_one_folder_and_an_absent_one_reads_nothing(
    remote: Remote, tmp_path: Path
) -> None:
    writer = DataBranch(remote.clone(tmp_path / "writer"))
    assert writer.write({"runs/a/1.jsonl": b"a\n", "runs/b/1.jsonl": b"b\n", "top.md": b"t\n"}).ok
    branch = DataBranch(remote.clone(tmp_path / "pr"))

    assert branch.read("runs/a").files == {"runs/a/1.jsonl": b"a\n"}
    assert set(branch.read("").files) == {"runs/a/1.jsonl", "runs/b/1.jsonl", "top.md"}
    empty = branch.read("runs/c/")
    assert empty.ok and not empty.files and "holds nothing under runs/c/" in empty.notes[0]


def test_invalid_arguments_raise() -> None:
    with pytest.raises(ValueError, match="branch name"):
        DataBranch(Path("."), branch="-x")
    with pytest.raises(ValueError, match="branch name"):
        DataBranch(Path("."), branch="a..b")
    with pytest.raises(ValueError, match="remote"):
        DataBranch(Path("."), remote="--upload-pack=x")
    with pytest.raises(ValueError, match="not a path"):
        DataBranch(Path(".")).write({"runs/../x": b""})
    with pytest.raises(ValueError, match="not a folder"):
        DataBranch(Path(".")).read("runs/.git")
    with pytest.raises(ValueError, match="identity"):
        Identity("a>b", "c")
    assert "ok" in STATUSES and "denied" in STATUSES


def test_nothing_to_write_pushes_nothing(remote: Remote, tmp_path: Path) -> None:
    branch = DataBranch(remote.clone(tmp_path / "writer"))

    assert branch.write({}) == WriteOutcome("ok", notes=("nothing to write",))
    # A retention alone on a branch that does not exist yet: no empty branch is made.
    alone = branch.write({}, retention=keep_newest(1))
    assert alone.ok and not alone.pushed and alone.notes == ("nothing to write",)
    assert git(remote.path, "branch", "--list", "driftgate-data") == ""


def test_a_partial_clone_reads_and_writes(remote: Remote, tmp_path: Path) -> None:
    # actions/checkout's `filter: blob:none`: the branch's files come when they are read.
    assert DataBranch(remote.clone(tmp_path / "seed-writer")).write({"runs/p/1.jsonl": b"1\n"}).ok
    git(remote.path, "config", "uploadpack.allowFilter", "true")
    clone = tmp_path / "partial"
    git(tmp_path, "clone", "-q", "--filter=blob:none", "--single-branch", remote.url, str(clone))
    assert git(clone, "config", "remote.origin.promisor") == "true"

    read = DataBranch(clone).read()
    written = DataBranch(clone).write({"runs/p/2.jsonl": b"2\n"})

    assert read.files == {"runs/p/1.jsonl": b"1\n"}, read.notes
    assert written.ok, written.notes
    assert remote.files() == ["runs/p/1.jsonl", "runs/p/2.jsonl"]
