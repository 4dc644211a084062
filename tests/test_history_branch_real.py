"""The base branch's history in the `driftgate-data` branch, end to end: real git repositories
with a bare remote (and one served over smart HTTP that refuses pushes, as a read-only token
does), the unmodified ddtrace script, and `driftgate run --local --history-branch` as separate
processes.

What a user expects: runs on main push their compact record to the branch (two at once both
land); a pull request in a fresh clone, with no store at all (an evicted cache, a new
runner), reads main's runs from the branch and is compared with them pooled; a run whose
push is refused says so and how to fix it, and is gated all the same.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.ci.git_http import serve
from tests.test_baselines_real import _gate
from tests.test_cli_run import _commit, _git, _new_repo, _set, env

__all__ = ["env"]  # the fixture, shared with test_cli_run

BRANCH = "driftgate-data"
KEEP = ("--history-branch", BRANCH)


def _published(tmp_path: Path) -> tuple[Path, Path]:
    """The experiment's repository, pushed to a bare remote: (the clone, the remote)."""
    repo, _ = _new_repo(tmp_path)
    remote = tmp_path / "remote.git"
    _git(tmp_path, "init", "--quiet", "--bare", "-b", "main", str(remote))
    _git(repo, "remote", "add", "origin", str(remote))
    _git(repo, "push", "--quiet", "-u", "origin", "main")
    _git(repo, "remote", "set-head", "origin", "main")
    return repo, remote


def _clone(url: str, dest: Path) -> Path:
    subprocess.run(["git", "clone", "--quiet", url, str(dest)], check=True, capture_output=True)
    _git(dest, "config", "user.name", "driftgate tests")
    _git(dest, "config", "user.email", "tests@driftgate.invalid")
    _git(dest, "config", "commit.gpgsign", "false")
    return dest


def _kept(remote: Path) -> list[str]:
    listing = _git(remote, "ls-tree", "-r", "--name-only", BRANCH)
    return listing.splitlines()


def _touch(repo: Path, line: str) -> str:
    notes = repo / "NOTES.md"
    notes.write_text((notes.read_text() if notes.exists() else "") + line + "\n")
    _git(repo, "add", "NOTES.md")
    sha = _commit(repo, line)
    _git(repo, "push", "--quiet", "origin", "main")
    return sha


def test_mains_runs_are_kept_and_baseline_a_fresh_clone_without_a_store(
    tmp_path: Path, env: dict[str, str]
) -> None:
    repo, remote = _published(tmp_path)
    first = _gate(repo, env, "arith", *KEEP)
    assert first.exit_code == 0, first.output
    assert "history: 1 run of arith kept in the driftgate-data branch" in first.output
    _touch(repo, "a note")
    second = _gate(repo, env, "arith", *KEEP)
    assert second.report["verdict"] == "pass", second.markdown
    kept = _kept(remote)
    assert len(kept) == 2, kept
    assert all(path.startswith("runs/arith/") and path.endswith(".jsonl") for path in kept)
    ids = [second.report["candidate"]["id"], first.report["candidate"]["id"]]
    assert all(path.endswith(f"-{i}.jsonl") for path, i in zip(reversed(kept), ids, strict=True))

    # A pull request on another runner: a fresh clone, no .driftgate/ (no cache restored).
    pr = _clone(str(remote), tmp_path / "pr")
    assert not (pr / ".driftgate").exists()
    _git(pr, "checkout", "--quiet", "-b", "lite-model")
    _set(pr, MODEL="calc-1-lite")
    _commit(pr, "a cheaper model")
    gated = _gate(pr, env, "arith", *KEEP)

    assert "2 runs of arith at the merge-base and its ancestors read from the driftgate-data " in (
        gated.output
    )
    assert "2 added to the embedded store" in gated.output
    report = gated.report
    assert report["verdict"] == "fail", gated.markdown
    history = report["history"]
    assert history["pooled"] == 2, history
    # The runs as main recorded them: their commits, and their ids kept as their origin.
    assert [run["commit"] for run in history["runs"]] == [
        second.report["candidate"]["commit"],
        first.report["candidate"]["commit"],
    ]
    assert [run["created_at"] for run in history["runs"]] == [
        second.report["candidate"]["created_at"],
        first.report["candidate"]["created_at"],
    ]
    assert next(m for m in report["metrics"] if m["name"] == "exact")["verdict"] == "regressed"
    # Record by record: the fresh store gave the records the canonical ids main's did.
    assert report["records"]["compared"] == 40, report["records"]
    # A pull request reads; it never writes the branch.
    assert _kept(remote) == kept

    again = _gate(pr, env, "arith", *KEEP)
    assert "2 added" not in again.output
    assert "2 already in the store" in again.output
    assert again.report["history"]["pooled"] == 2


def test_two_runs_on_main_pushing_at_once_both_land(tmp_path: Path, env: dict[str, str]) -> None:
    repo, remote = _published(tmp_path)
    other = _clone(str(remote), tmp_path / "other")
    _touch(other, "another runner's commit")
    command = [sys.executable, "-m", "driftgate.cli", "run", "--local", "--pipeline", "arith"]
    procs = [
        subprocess.Popen(
            [*command, *KEEP, "--", sys.executable, "experiment.py"],
            cwd=clone,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for clone in (repo, other)
    ]
    outputs = [proc.communicate(timeout=180)[0] for proc in procs]
    for proc, output in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, output
        assert "Traceback" not in output
        assert "history: 1 run of arith kept in the driftgate-data branch" in output
    assert len(_kept(remote)) == 2


def test_a_refused_push_is_said_with_the_fix_and_the_gate_goes_on(
    tmp_path: Path, env: dict[str, str]
) -> None:
    repo, remote = _published(tmp_path)
    _gate(repo, env, "arith", *KEEP)  # the branch exists, written with the file remote
    served = tmp_path / "served"
    served.mkdir()
    (served / "remote.git").symlink_to(remote)
    with serve(served, "read-only") as url:
        runner = _clone(f"{url}/remote.git", tmp_path / "runner")
        _git(runner, "remote", "set-head", "origin", "main")
        _touch_local(runner, "on main, with a read-only token")
        gated = _gate(runner, env, "arith", *KEEP)
    assert gated.exit_code == 0, gated.output
    assert "contents: write" in gated.output, gated.output
    assert "Traceback" not in gated.output
    # Its store was empty: main's first run came from the branch, over HTTP.
    assert "1 added to the embedded store" in gated.output
    assert gated.report["baseline"] is not None
    assert len(_kept(remote)) == 1


def _touch_local(repo: Path, line: str) -> None:
    (repo / "NOTES.md").write_text(line + "\n")
    _git(repo, "add", "NOTES.md")
    _commit(repo, line)
