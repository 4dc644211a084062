"""`driftgate run --local` end to end, as a user runs it: a real git repository with a main
branch and a feature branch, an unmodified ddtrace script (tests/scripts/arith_experiment.py)
whose behaviour a commit changes, and driftgate as a separate process in that repository.

Each test builds its own repository (runs are recorded in the repository's own
`.driftgate/store.db`, so nothing leaks between tests) and walks it through the steps of a
project's life: record on main, branch, change, gate.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from driftgate.experiments.client import ExperimentsClient, backend_from_env
from driftgate.experiments.models import ExperimentInfo
from driftgate.store.server import BackgroundStore

SCRIPT = Path(__file__).parent / "scripts" / "arith_experiment.py"
PIPELINE = "arith"
FOUND_BY_URL = "the experiment URLs the command printed"
FOUND_BY_COMMIT = "experiments created since the command started for commit "
# The README's JSON report: the keys a consumer of report.json may rely on.
REPORT_KEYS = {"verdict", "candidate", "baseline", "baseline_reason", "metrics", "records"}
METRIC_KEYS = {
    "name",
    "kind",
    "baseline",
    "candidate",
    "delta",
    "ci_low",
    "ci_high",
    "p_value",
    "n",
    "verdict",
    "gate",
}


def _git(repo: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True, timeout=30
    )
    return proc.stdout.strip()


def _set(repo: Path, **constants: object) -> None:
    """Edit the script's constants the way a developer would edit the code."""
    path = repo / "experiment.py"
    source = path.read_text()
    for name, value in constants.items():
        source, count = re.subn(
            rf"^{name} = .*$", f"{name} = {value!r}", source, count=1, flags=re.M
        )
        assert count == 1, f"experiment.py has no constant {name}"
    path.write_text(source)


def _commit(repo: Path, message: str) -> str:
    _git(repo, "commit", "--quiet", "--all", "-m", message)
    return _git(repo, "rev-parse", "HEAD")


def _new_repo(tmp_path: Path, **constants: object) -> tuple[Path, str]:
    """A repository whose main branch holds the experiment script; its first commit."""
    repo = tmp_path / "project"
    repo.mkdir()
    (repo / "experiment.py").write_text(SCRIPT.read_text())
    _set(repo, **constants)
    # What driftgate and the script write stays out of the commits, as it would in a project.
    (repo / ".gitignore").write_text(".driftgate/\nseen-env.json\nhang-pids.json\n")
    _git(repo, "init", "--quiet", "-b", "main")
    _git(repo, "config", "user.name", "driftgate tests")
    _git(repo, "config", "user.email", "tests@driftgate.invalid")
    _git(repo, "config", "commit.gpgsign", "false")
    _git(repo, "add", ".")
    return repo, _commit(repo, "the arithmetic experiment")


@dataclass(frozen=True)
class Gated:
    exit_code: int
    output: str
    report: dict[str, Any]
    markdown: str


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment driftgate runs in: nothing of CI or Datadog, so that all the script
    gets from driftgate, driftgate put there.

    Plus a bytecode cache shared by these processes: where the environment says
    PYTHONDONTWRITEBYTECODE (an uncompiled venv), every driftgate and ddtrace process would
    compile numpy and ddtrace from source, seconds each time, which an installed driftgate
    never does."""
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("DD_", "GITHUB_", "DRIFTGATE_"))
    }
    clean.pop("PYTHONDONTWRITEBYTECODE", None)
    clean["PYTHONPYCACHEPREFIX"] = str(tmp_path_factory.mktemp("pycache"))
    return clean


def _gate(repo: Path, env: dict[str, str], *options: str) -> Gated:
    """`driftgate run --local` in `repo`, as a user runs it."""
    # A report left by an earlier step must never pass for this one's.
    shutil.rmtree(repo / ".driftgate" / "report", ignore_errors=True)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "driftgate.cli",
            "run",
            "--local",
            "--pipeline",
            PIPELINE,
            *options,
            "--",
            sys.executable,
            "experiment.py",
        ],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    output = proc.stdout + proc.stderr
    # The script's own output is echoed on stdout; stderr is driftgate's, and never a crash.
    assert "Traceback" not in proc.stderr, output
    report_dir = repo / ".driftgate" / "report"
    report = json.loads((report_dir / "report.json").read_text())
    return Gated(proc.returncode, output, report, (report_dir / "report.md").read_text())


def _headline(markdown: str) -> str:
    """The report's first heading, in words: what a reader sees first."""
    first = next(line for line in markdown.splitlines() if line.startswith("#"))
    return first.lower().replace("_", " ")


def _metric(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(m for m in report["metrics"] if m["name"] == name)


def _stored(repo: Path, experiment_id: str) -> ExperimentInfo:
    """The experiment as recorded in the repository's store (driftgate has exited)."""
    with BackgroundStore(str(repo / ".driftgate" / "store.db")) as store:
        backend = backend_from_env({"DD_LLMOBS_OVERRIDE_ORIGIN": store.url})
        with ExperimentsClient(backend) as client:
            return client.get_experiment(experiment_id)


def test_first_run_has_no_baseline_and_an_unchanged_branch_passes(
    tmp_path: Path, env: dict[str, str]
) -> None:
    repo, main_sha = _new_repo(tmp_path, PRINT_URL=True)

    first = _gate(repo, env)
    assert first.exit_code == 0, first.output
    assert first.report["verdict"] == "no_baseline"
    assert first.report["found"] == FOUND_BY_URL
    assert first.report["baseline"] is None
    assert first.report["baseline_reason"].startswith("this is the first run of 'sums'")
    assert first.report["candidate"]["commit"] == main_sha
    assert "no baseline" in _headline(first.markdown)
    assert first.report["command"]["exit_code"] == 0
    assert "/llm/experiments/" in first.report["command"]["tail"]

    # What driftgate injected reached the script...
    seen = json.loads((repo / "seen-env.json").read_text())
    assert seen["DD_GIT_COMMIT_SHA"] == main_sha
    assert seen["DRIFTGATE_PIPELINE"] == PIPELINE
    assert seen["DD_LLMOBS_OVERRIDE_ORIGIN"].startswith("http://127.0.0.1:")
    meta = json.loads(seen["DRIFTGATE_METADATA"])
    assert meta["commit"] == main_sha
    assert meta["branch"] == meta["base_branch"] == "main"
    assert meta["pipeline"] == PIPELINE
    assert meta["pr"] is None
    assert meta["run_id"].startswith("local-")
    assert seen["DRIFTGATE_EXPERIMENT_NAME"] == f"{PIPELINE}-{meta['run_id']}"
    tags = json.loads(seen["DRIFTGATE_TAGS"])
    assert tags["git.branch"] == "main"
    assert tags["ci.pipeline"] == PIPELINE
    # ...and ddtrace recorded it: the commit from DD_GIT_COMMIT_SHA, the rest from tags=.
    stored = _stored(repo, first.report["candidate"]["id"])
    assert f"git.commit.sha:{main_sha}" in stored.tags
    assert "git.branch:main" in stored.tags
    assert f"ci.pipeline:{PIPELINE}" in stored.tags

    # A branch whose commit leaves the script alone: the experiment records the same thing.
    _git(repo, "checkout", "--quiet", "-b", "docs")
    (repo / "NOTES.md").write_text("How to run the experiment.\n")
    _git(repo, "add", "NOTES.md")
    branch_sha = _commit(repo, "notes")

    second = _gate(repo, env)
    assert second.exit_code == 0, second.output
    report = second.report
    assert report["verdict"] == "pass", second.markdown
    assert report.keys() >= REPORT_KEYS
    assert report["candidate"]["commit"] == branch_sha
    assert report["baseline"]["id"] == first.report["candidate"]["id"]
    assert report["baseline"]["commit"] == main_sha
    assert report["baseline_reason"] == (
        f"the newest run at {main_sha[:12]}, the merge-base on main"
    )
    for metric in report["metrics"]:
        assert metric.keys() >= METRIC_KEYS, metric["name"]
        assert metric["gate"] == "pass", metric
        assert metric["verdict"] != "regressed", metric
    kinds = {m["name"]: m["kind"] for m in report["metrics"]}
    assert kinds["exact"] == "boolean"
    assert kinds["closeness"] == "score"
    exact = _metric(report, "exact")
    assert exact["baseline"] == exact["candidate"] == 0.9
    assert exact["delta"] == 0
    assert exact["n"] == 40
    assert exact["ci_low"] <= 0 <= exact["ci_high"]
    assert report["records"]["compared"] == 40
    assert report["records"]["regressed"] == report["records"]["improved"] == []
    assert "pass" in _headline(second.markdown)
    assert report["baseline_reason"] in second.markdown
    for shown in ("exact", "closeness", "90.0%"):
        assert shown in second.markdown


def test_regression_is_caught_against_the_merge_base_not_a_newer_main(
    tmp_path: Path, env: dict[str, str]
) -> None:
    # No URL printed: driftgate finds every run by the commit ddtrace tags.
    repo, fork_sha = _new_repo(tmp_path, PRINT_URL=False)
    assert _gate(repo, env).report["verdict"] == "no_baseline"

    # The feature branch forks here and switches to a model that is worse at sums.
    _git(repo, "checkout", "--quiet", "-b", "lite-model")
    _set(repo, MODEL="calc-1-lite")
    branch_sha = _commit(repo, "a cheaper model")

    # Meanwhile main moves on to a better model, and records it (a push to main): compared
    # with the previous main run, not gated as a change from itself.
    _git(repo, "checkout", "--quiet", "main")
    _set(repo, MODEL="calc-2")
    main_sha = _commit(repo, "a better model")
    push = _gate(repo, env)
    assert push.exit_code == 0, push.output
    assert push.report["found"] == FOUND_BY_COMMIT + main_sha[:12]
    assert push.report["verdict"] == "pass", push.markdown
    assert push.report["candidate"]["commit"] == main_sha
    assert push.report["baseline"]["commit"] == fork_sha
    assert push.report["baseline_reason"].startswith(f"the newest run at {fork_sha[:12]}")
    assert _metric(push.report, "exact")["candidate"] == 1.0

    # The pull request: compared with the run at the merge-base. Against main's newer run the
    # numbers would be another story (exact 100% there).
    _git(repo, "checkout", "--quiet", "lite-model")
    pr = _gate(repo, env)
    assert pr.exit_code == 1, pr.output
    report = pr.report
    assert report["found"] == FOUND_BY_COMMIT + branch_sha[:12]
    assert report["verdict"] == "fail"
    assert report["candidate"]["commit"] == branch_sha
    assert report["baseline"]["commit"] == fork_sha
    assert report["baseline"]["commit"] != main_sha
    assert report["baseline_reason"] == (
        f"the newest run at {fork_sha[:12]}, the merge-base on main"
    )
    exact = _metric(report, "exact")
    assert (exact["kind"], exact["verdict"], exact["gate"]) == ("boolean", "regressed", "fail")
    # calc-1 misses i % 10 == 3 (4 of 40); calc-1-lite also every third, 12 more.
    assert exact["baseline"] == 0.9
    assert exact["candidate"] == 0.6
    assert exact["delta"] < 0 and exact["ci_high"] < 0
    assert exact["p_value"] < 0.05
    closeness = _metric(report, "closeness")
    assert (closeness["kind"], closeness["verdict"], closeness["gate"]) == (
        "score",
        "regressed",
        "fail",
    )
    assert len(report["records"]["regressed"]) == 12
    assert report["records"]["improved"] == []
    assert "fail" in _headline(pr.markdown)
    assert report["baseline_reason"] in pr.markdown
    for shown in ("exact", "90.0%", "60.0%"):
        assert shown in pr.markdown


def test_two_experiments_from_one_command_are_each_gated(
    tmp_path: Path, env: dict[str, str]
) -> None:
    repo, main_sha = _new_repo(tmp_path, PRINT_URL=False, EXPERIMENTS=("sums", "products"))
    first = _gate(repo, env)
    assert first.exit_code == 0, first.output
    assert [e["verdict"] for e in first.report["experiments"]] == ["no_baseline"] * 2

    # The cheaper model is worse at sums only: one experiment fails, the other passes.
    _git(repo, "checkout", "--quiet", "-b", "lite-model")
    _set(repo, MODEL="calc-1-lite")
    branch_sha = _commit(repo, "a cheaper model")
    second = _gate(repo, env)
    assert second.exit_code == 1, second.output
    assert second.report["verdict"] == "fail"
    by_name = {e["candidate"]["experiment"]: e for e in second.report["experiments"]}
    assert set(by_name) == {"sums", "products"}
    for name, expected in (("sums", "fail"), ("products", "pass")):
        gated = by_name[name]
        assert gated["verdict"] == expected, name
        assert gated["candidate"]["commit"] == branch_sha
        # Each is compared with its own experiment's run at the merge-base.
        assert gated["baseline"]["experiment"] == name
        assert gated["baseline"]["commit"] == main_sha
        assert gated["baseline"]["id"] in {
            e["candidate"]["id"] for e in first.report["experiments"]
        }
    assert _metric(by_name["sums"], "exact")["verdict"] == "regressed"
    assert _metric(by_name["products"], "exact")["gate"] == "pass"
    # A section each in the Markdown report, in the order the script recorded them.
    assert "fail" in _headline(second.markdown)
    sums_at = second.markdown.find(by_name["sums"]["candidate"]["name"])
    products_at = second.markdown.find(by_name["products"]["candidate"]["name"])
    assert 0 <= sums_at < products_at


def test_a_crashing_script_is_an_error_with_its_output(tmp_path: Path, env: dict[str, str]) -> None:
    repo, _ = _new_repo(tmp_path, MODE="crash")
    gated = _gate(repo, env)
    assert gated.exit_code == 1, gated.output
    report = gated.report
    assert report["verdict"] == "error"
    assert report["candidate"] is None
    assert report["command"]["exit_code"] == 1
    assert report["command"]["timed_out"] is False
    assert "exited with status 1" in " ".join(report["warnings"])
    for shown in (report["command"]["tail"], gated.markdown):
        assert "calling the model endpoint..." in shown
        assert "ConnectionError: model endpoint refused the connection (simulated)" in shown
    assert "error" in _headline(gated.markdown)


def _alive(pid: int) -> bool:
    """Whether `pid` is still running (a zombie has ended, it only waits to be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_a_script_past_its_timeout_is_stopped_with_its_children(
    tmp_path: Path, env: dict[str, str]
) -> None:
    repo, _ = _new_repo(tmp_path, MODE="hang")
    gated = _gate(repo, env, "--timeout", "0.05")  # minutes: 3 s
    pids = json.loads((repo / "hang-pids.json").read_text())
    try:
        assert gated.exit_code == 1, gated.output
        report = gated.report
        assert report["verdict"] == "error"
        assert report["command"]["timed_out"] is True
        assert report["command"]["exit_code"] is None
        assert "did not finish within the timeout" in " ".join(report["warnings"])
        assert "waiting for the model endpoint..." in gated.markdown
        # The whole process group was stopped: the script and the helper it started. The
        # helper's SIGTERM may still be in flight when driftgate has reaped the script.
        deadline = time.monotonic() + 10
        while _alive(pids["helper"]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(pids["script"])
        assert not _alive(pids["helper"])
    finally:
        for pid in pids.values():  # never leave a sleeper behind, whatever failed
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_push_that_deleted_its_branch_runs_nothing_and_exits_0(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """`driftgate run` in a job GitHub started for a branch deletion: GITHUB_SHA and GITHUB_REF
    name the default branch's tip, which must not be recorded as if it had been pushed."""
    repo, main_sha = _new_repo(tmp_path)
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps(
            {
                "ref": "refs/heads/old-feature",
                "before": main_sha,
                "after": "0" * 40,
                "created": False,
                "deleted": True,
                "repository": {"full_name": "acme/bot", "default_branch": "main"},
            }
        )
    )
    actions = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": "push",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_REPOSITORY": "acme/bot",
        "GITHUB_RUN_ID": "42",
        "GITHUB_SHA": main_sha,
        "GITHUB_REF": "refs/heads/main",
    }
    marker = tmp_path / "ran"
    proc = subprocess.run(
        [sys.executable, "-m", "driftgate.cli", "run", "--local", "--", "touch", str(marker)],
        cwd=repo,
        env={**env, **actions},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "deleted refs/heads/old-feature" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not marker.exists()
    assert not (repo / ".driftgate").exists()
