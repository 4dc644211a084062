"""The baseline a user gets, end to end: real git repositories, the unmodified ddtrace script
(tests/scripts/arith_experiment.py) in the shapes real projects write it, and `driftgate run
--local` / `driftgate compare --local` as separate processes.

The shapes: a pipeline name equal to, a prefix of, or unrelated to the experiment's name;
scripts that pass DRIFTGATE_TAGS and scripts that pass nothing of driftgate's; scripts that
name every run DRIFTGATE_EXPERIMENT_NAME (`<pipeline>-<run-id>`); a run from a dirty working
tree on main; a second run on the same main commit. Each gets the baseline a user expects,
or a `no_baseline` that says what it found and what to change.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.test_cli_run import Gated, _commit, _git, _new_repo, _set, _stored, env

__all__ = ["env"]  # the module's fixture, shared with test_cli_run


def _gate(repo: Path, env: dict[str, str], pipeline: str, *options: str) -> Gated:
    """`driftgate run --local --pipeline PIPELINE` in `repo`, as a user runs it."""
    shutil.rmtree(repo / ".driftgate" / "report", ignore_errors=True)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "driftgate.cli",
            "run",
            "--local",
            "--pipeline",
            pipeline,
            *options,
            "--",
            sys.executable,
            "experiment.py",
        ],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, output
    report_dir = repo / ".driftgate" / "report"
    report = json.loads((report_dir / "report.json").read_text())
    return Gated(proc.returncode, output, report, (report_dir / "report.md").read_text())


def _compare(repo: Path, env: dict[str, str], *args: str) -> tuple[int, str, dict[str, Any]]:
    """`driftgate compare --local --format json` in `repo`: (exit code, stderr, report)."""
    proc = subprocess.run(
        [sys.executable, "-m", "driftgate.cli", "compare", "--local", "--format", "json", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, proc.stderr, json.loads(proc.stdout) if proc.stdout else {}


def _record_on_main_then_change(
    tmp_path: Path, env: dict[str, str], pipeline: str, **constants: object
) -> tuple[Path, Gated, Gated, str]:
    """Record on main, then gate a branch that switches to the better model: (repo, the main
    run, the branch run, main's commit)."""
    repo, main_sha = _new_repo(tmp_path, **constants)
    first = _gate(repo, env, pipeline)
    assert first.exit_code == 0, first.output
    assert first.report["verdict"] == "no_baseline", first.markdown
    _git(repo, "checkout", "--quiet", "-b", "better-model")
    _set(repo, MODEL="calc-2")
    _commit(repo, "a better model")
    second = _gate(repo, env, pipeline)
    return repo, first, second, main_sha


def _assert_compared_with_main(first: Gated, second: Gated, main_sha: str) -> None:
    report = second.report
    assert second.exit_code == 0, second.output
    assert report["verdict"] == "pass", second.markdown
    assert report["baseline"]["id"] == first.report["candidate"]["id"]
    assert report["baseline"]["commit"] == main_sha
    assert report["baseline_reason"] == f"the newest run at {main_sha[:12]}, the merge-base on main"


@pytest.mark.parametrize(
    ("pipeline", "pass_tags"),
    [
        ("arith", False),  # the README's set-up: pipeline `support-bot`, `support-bot-eval`
        ("arith", True),
        ("arith-sums", False),  # equal to the experiment's name
        ("nightly", False),  # unrelated to it
    ],
)
def test_a_fixed_experiment_name_is_compared_with_mains_run_whatever_the_pipeline(
    tmp_path: Path, env: dict[str, str], pipeline: str, pass_tags: bool
) -> None:
    repo, first, second, main_sha = _record_on_main_then_change(
        tmp_path, env, pipeline, PREFIX="arith-", PASS_TAGS=pass_tags, PRINT_URL=not pass_tags
    )
    assert first.report["candidate"]["experiment"] == "arith-sums"
    assert first.report["baseline_reason"].startswith(
        "this is the first run of 'arith-sums' (no commit of main before this one to search): "
        "the next commit on main and pull requests from it compare with it"
    )
    stored = _stored(repo, first.report["candidate"]["id"])
    assert (f"ci.pipeline:{pipeline}" in stored.tags) is pass_tags
    _assert_compared_with_main(first, second, main_sha)
    assert _id_shown(second.report["candidate"]["id"]) in second.markdown


def _id_shown(identifier: str) -> str:
    # The terminal report names each run's id, to paste into `driftgate compare`.
    return f"(id {identifier})"


@pytest.mark.parametrize("pass_tags", [True, False])
def test_runs_named_per_run_are_compared_with_mains_run(
    tmp_path: Path, env: dict[str, str], pass_tags: bool
) -> None:
    _repo, first, second, main_sha = _record_on_main_then_change(
        tmp_path, env, "arith", PER_RUN_NAME=True, PASS_TAGS=pass_tags
    )
    assert first.report["candidate"]["experiment"].startswith("arith-local-")
    assert second.report["candidate"]["experiment"] != first.report["candidate"]["experiment"]
    _assert_compared_with_main(first, second, main_sha)


def test_a_dirty_main_is_recorded_but_never_a_baseline(tmp_path: Path, env: dict[str, str]) -> None:
    """The script passes nothing of driftgate's: the store is told instead."""
    repo, main_sha = _new_repo(tmp_path, PASS_TAGS=False)
    _set(repo, MODEL="calc-2")  # uncommitted: main's commit does not have this model
    dirty = _gate(repo, env, "arith")
    assert dirty.exit_code == 0, dirty.output
    assert dirty.report["verdict"] == "no_baseline"
    assert dirty.report["candidate"]["dirty"] is True
    assert "uncommitted changes (experiment.py)" in dirty.output
    assert any("tagged git.dirty" in note for note in dirty.report["notes"])
    assert "will not be a baseline" in dirty.report["baseline_reason"]
    assert "Recorded from uncommitted changes (git.dirty)" in dirty.markdown
    assert "git.dirty:true" in _stored(repo, dirty.report["candidate"]["id"]).tags

    # A branch from main: the dirty run is at the merge-base, and passed over, said so.
    _git(repo, "checkout", "--quiet", "--", "experiment.py")
    _git(repo, "checkout", "--quiet", "-b", "feature")
    (repo / "NOTES.md").write_text("notes\n")
    _git(repo, "add", "NOTES.md")
    _commit(repo, "notes")
    pr = _gate(repo, env, "arith")
    assert pr.report["verdict"] == "no_baseline", pr.markdown
    reason = pr.report["baseline_reason"]
    assert reason.startswith("1 other run of 'sums' exists but none qualified (1 recorded ")
    assert "commit your changes and run again on main" in reason
    [considered] = pr.report["baseline_considered"]
    assert considered["id"] == dirty.report["candidate"]["id"]
    assert considered["commit"] == main_sha
    assert "uncommitted changes" in considered["why"]
    assert "Runs considered:" in pr.markdown
    assert dirty.report["candidate"]["id"] in pr.markdown

    # Named explicitly, it is used, and the report says what it is.
    named = _gate(repo, env, "arith", "--baseline", dirty.report["candidate"]["id"])
    assert named.report["baseline"]["id"] == dirty.report["candidate"]["id"]
    assert "used only because it was named" in named.report["baseline_reason"]


def test_a_second_run_on_the_same_main_commit_says_what_happened(
    tmp_path: Path, env: dict[str, str]
) -> None:
    repo, main_sha = _new_repo(tmp_path, PASS_TAGS=False)
    first = _gate(repo, env, "arith")
    again = _gate(repo, env, "arith")
    assert again.exit_code == 0, again.output
    assert again.report["verdict"] == "no_baseline"
    reason = again.report["baseline_reason"]
    assert "no commit history" not in reason
    assert f"the earlier runs at {main_sha[:12]} are this commit's own" in reason
    [considered] = again.report["baseline_considered"]
    assert considered["id"] == first.report["candidate"]["id"]
    assert considered["why"].startswith("at this very commit")

    # The next commit on main compares with it, as promised.
    (repo / "NOTES.md").write_text("notes\n")
    _git(repo, "add", "NOTES.md")
    _commit(repo, "notes")
    nxt = _gate(repo, env, "arith")
    assert nxt.report["verdict"] == "pass", nxt.markdown
    assert nxt.report["baseline"]["id"] == again.report["candidate"]["id"]
    assert nxt.report["baseline_reason"] == (
        f"the newest run at {main_sha[:12]}, the previous commit on main"
    )


def test_compare_without_a_baseline_resolves_it_as_run_does(
    tmp_path: Path, env: dict[str, str]
) -> None:
    repo, first, second, main_sha = _record_on_main_then_change(
        tmp_path, env, "arith", PASS_TAGS=False
    )
    _assert_compared_with_main(first, second, main_sha)
    candidate = second.report["candidate"]

    # By id, and by the run's name as the report shows it: the same baseline as `run`.
    for ref in (candidate["id"], candidate["name"]):
        code, err, report = _compare(repo, env, "--candidate", ref)
        assert code == 0, err
        assert report["verdict"] == "pass"
        assert report["baseline"]["id"] == first.report["candidate"]["id"]
        assert report["baseline_reason"] == second.report["baseline_reason"]

    # On main's own run: nothing earlier, said as such, never "Recorded".
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "driftgate.cli",
            "compare",
            "--local",
            "--candidate",
            first.report["candidate"]["id"],
        ],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Recorded" not in proc.stdout
    assert "Nothing to compare with" in proc.stdout
    # The branch's run is newer, and is not on main: passed over, and shown.
    assert (
        "1 other run of 'sums' exists but none qualified (1 on other branches or commits; "
        "no commit of main before this one to search)"
    ) in proc.stdout
    assert candidate["id"] in proc.stdout

    # The experiment's name names two runs: refused, listing both ids.
    code, err, _ = _compare(repo, env, "--candidate", "sums")
    assert code == 2
    assert "'sums' is ambiguous: 2 runs belong to the experiment 'sums'" in err
    assert first.report["candidate"]["id"] in err and candidate["id"] in err
    # ...while the name of one run is enough on either side.
    code, err, report = _compare(
        repo, env, "--candidate", candidate["name"], "--baseline", first.report["candidate"]["name"]
    )
    assert code == 0, err
    assert report["baseline"]["id"] == first.report["candidate"]["id"]
