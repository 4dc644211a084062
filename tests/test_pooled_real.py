"""A baseline pooled from the base branch's recent runs, end to end: a real git repository,
the unmodified ddtrace script (tests/scripts/arith_experiment.py) recorded on several commits
of main by `driftgate run --local`, then a pull request gated against them.

What a user expects: the runs at the merge-base and its first-parent ancestors (a re-run at
one commit included) make the baseline, newest first; a change main declared (the script's
`config={"model": ...}`) cuts the history there and says so; `[history] runs = 1` is one
baseline run as before.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.test_baselines_real import _gate
from tests.test_cli_run import _commit, _git, _new_repo, _set, env

__all__ = ["env"]  # the fixture, shared with test_cli_run


def _touch(repo: Path, line: str) -> str:
    """A commit that changes nothing the experiment measures."""
    notes = repo / "NOTES.md"
    notes.write_text((notes.read_text() if notes.exists() else "") + line + "\n")
    _git(repo, "add", "NOTES.md")
    return _commit(repo, line)


def test_a_pull_request_is_compared_with_mains_recent_runs_pooled(
    tmp_path: Path, env: dict[str, str]
) -> None:
    repo, first_sha = _new_repo(tmp_path)
    first = _gate(repo, env, "arith")
    assert first.report["verdict"] == "no_baseline", first.markdown
    second_sha = _touch(repo, "a note")
    second = _gate(repo, env, "arith")
    # On main, one earlier run: the one-run comparison, with no history to speak of.
    assert second.report["verdict"] == "pass", second.markdown
    assert second.report["history"] is None
    rerun = _gate(repo, env, "arith")  # the same commit again: a re-run, pooled too
    assert rerun.report["baseline"]["id"] == first.report["candidate"]["id"]

    _git(repo, "checkout", "--quiet", "-b", "lite-model")
    _set(repo, MODEL="calc-1-lite")
    _commit(repo, "a cheaper model")
    pr = _gate(repo, env, "arith")

    report = pr.report
    assert pr.exit_code == 1, pr.output
    assert report["verdict"] == "fail", pr.markdown
    ids = [run.report["candidate"]["id"] for run in (rerun, second, first)]
    history = report["history"]
    assert [run["id"] for run in history["runs"]] == ids
    assert [run["commit"] for run in history["runs"]] == [second_sha, second_sha, first_sha]
    assert all(run["pooled"] for run in history["runs"]), history
    assert (history["considered"], history["pooled"], history["observations"]) == (3, 3, 3)
    assert history["change_point"] == ""
    # The script is deterministic: no record varied between main's runs.
    assert history["flaky_count"] == 0
    # The newest run at the merge-base names the baseline, as with one run.
    assert report["baseline"]["id"] == rerun.report["candidate"]["id"]
    exact = next(m for m in report["metrics"] if m["name"] == "exact")
    assert exact["verdict"] == "regressed", pr.markdown
    assert any("3 base-branch runs pooled" in w for w in report["warnings"]), report["warnings"]
    # The trend: main's three runs, oldest first, and the candidate below them.
    trend = next(t for t in report["trend"] if t["metric"] == "exact")
    assert [p["run_id"] for p in trend["points"]] == ids[::-1]
    assert all(p["pooled"] for p in trend["points"])
    assert trend["candidate"]["value"] < min(p["value"] for p in trend["points"])
    assert "Baseline history: " in pr.markdown
    assert "Trend over " in pr.markdown


def test_a_change_main_declared_cuts_the_history_and_runs_1_keeps_one_run(
    tmp_path: Path, env: dict[str, str]
) -> None:
    repo, _ = _new_repo(tmp_path)
    old = _gate(repo, env, "arith")
    _set(repo, MODEL="calc-2")
    new_sha = _commit(repo, "a better model on main")
    new = _gate(repo, env, "arith")
    _touch(repo, "a note")
    newest = _gate(repo, env, "arith")

    _git(repo, "checkout", "--quiet", "-b", "docs")
    _touch(repo, "docs only")
    pr = _gate(repo, env, "arith")
    history = pr.report["history"]
    assert pr.report["verdict"] == "pass", pr.markdown
    assert [(run["id"], run["pooled"]) for run in history["runs"]] == [
        (newest.report["candidate"]["id"], True),
        (new.report["candidate"]["id"], True),
        (old.report["candidate"]["id"], False),
    ]
    assert history["runs"][1]["commit"] == new_sha
    assert "experiment config differs" in history["runs"][2]["why"]
    assert "model" in history["change_point"], history
    assert history["pooled"] == 2

    (repo / "driftgate.toml").write_text("[history]\nruns = 1\n")
    one = _gate(repo, env, "arith")
    assert one.report["history"] is None, one.markdown
    assert one.report["baseline"]["id"] == newest.report["candidate"]["id"]

    (repo / "driftgate.toml").write_text("[history]\nruns = 0\n")
    bad = subprocess.run(
        [sys.executable, "-m", "driftgate.cli", "run", "--local", "--", sys.executable, "x.py"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2, bad.stderr
    assert "Traceback" not in bad.stderr
    assert (
        "history.runs = 0 is not valid; expected a whole number of base-branch runs from 1 to 20"
        in bad.stderr
    )
