"""`driftgate run --local` and `compare --local` in real git repositories, as a user types
them, with the unmodified ddtrace script (tests/scripts/arith_experiment.py): from a
subdirectory (one store at the repository's root), `--no-baseline`, a bad `--baseline`
(refused before the script runs), and a misspelt configuration rule (said, with the name it
meant)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from driftgate.store.sockets import DEFAULT_PORT
from tests import test_cli_run
from tests.test_cli_run import PIPELINE, SCRIPT, _commit, _git

env = test_cli_run.env  # the fixture: an environment without CI, Datadog or driftgate


@dataclass(frozen=True)
class Ran:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def _repo(tmp_path: Path, subdir: str = "") -> tuple[Path, Path, str]:
    """A repository whose script lives in `subdir`; (root, the script's folder, main's sha)."""
    root = tmp_path / "project"
    where = root / subdir if subdir else root
    where.mkdir(parents=True)
    (where / "experiment.py").write_text(SCRIPT.read_text())
    (root / ".gitignore").write_text(".driftgate/\nseen-env.json\n")
    _git(root, "init", "--quiet", "-b", "main")
    _git(root, "config", "user.name", "driftgate tests")
    _git(root, "config", "user.email", "tests@driftgate.invalid")
    _git(root, "config", "commit.gpgsign", "false")
    _git(root, "add", ".")
    return root, where, _commit(root, "the arithmetic experiment")


def _driftgate(cwd: Path, env: dict[str, str], *args: str) -> Ran:
    proc = subprocess.run(
        [sys.executable, "-m", "driftgate.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert "Traceback" not in proc.stderr, proc.stdout + proc.stderr
    return Ran(proc.returncode, proc.stdout, proc.stderr)


def _run(cwd: Path, env: dict[str, str], *options: str) -> Ran:
    command = ("--", sys.executable, "experiment.py")
    return _driftgate(cwd, env, "run", "--local", "--pipeline", PIPELINE, *options, *command)


def _report(root: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(
        (root / ".driftgate" / "report" / "report.json").read_text()
    )
    shutil.rmtree(root / ".driftgate" / "report")  # never read again for a later step
    return report


def test_from_a_subdirectory_the_store_and_reports_are_at_the_root(
    tmp_path: Path, env: dict[str, str]
) -> None:
    root, evals, main_sha = _repo(tmp_path, "evals")

    # On main, from evals/, with `--no-baseline fail`: the base branch's first run records
    # and never fails.
    first = _run(evals, env, "--no-baseline", "fail")
    assert first.code == 0, first.output
    assert (root / ".driftgate" / "store.db").is_file()
    assert not (evals / ".driftgate").exists()
    assert f"the embedded store: {root / '.driftgate' / 'store.db'}" in first.stderr
    recorded = _report(root)
    assert recorded["verdict"] == "no_baseline"
    assert recorded["candidate"]["commit"] == main_sha
    assert "no baseline on the base branch: this run is recorded as one (exit 0" in first.stderr
    # A local run links its experiments to `driftgate serve`'s pages, which serves the
    # root's store from anywhere in the repository (no --db to give).
    page = f"http://127.0.0.1:{DEFAULT_PORT}/ui/experiments/{recorded['candidate']['id']}"
    assert recorded["candidate"]["url"] == page
    assert f"to browse the records: driftgate serve, then open {page}" in first.stderr
    # The script ran where the user was.
    assert (evals / "seen-env.json").is_file()

    _git(root, "checkout", "--quiet", "-b", "docs")
    (evals / "README.md").write_text("How to run the experiment.\n")
    _git(root, "add", ".")
    _commit(root, "notes")
    gated = _run(evals, env, "--no-baseline", "fail")
    assert gated.code == 0, gated.output
    report = _report(root)
    assert report["verdict"] == "pass", report["baseline_reason"]
    assert report["baseline"]["id"] == recorded["candidate"]["id"]
    assert report["baseline_reason"].startswith(f"the newest run at {main_sha[:12]}")

    # compare from the subdirectory finds both ids in the root's store.
    cand, base = report["candidate"]["id"], recorded["candidate"]["id"]
    compared = _driftgate(
        evals,
        env,
        "compare",
        "--local",
        "--candidate",
        cand,
        "--baseline",
        base,
        "--format",
        "json",
    )
    assert compared.code == 0, compared.output
    answer = json.loads(compared.stdout)
    assert answer["verdict"] == "pass"
    assert (answer["candidate"]["id"], answer["baseline"]["id"]) == (cand, base)
    assert answer["baseline"]["url"] == f"http://127.0.0.1:{DEFAULT_PORT}/ui/experiments/{base}"
    assert not (evals / ".driftgate").exists()
    # In GitHub Actions the store is the runner's: no link to it, and how to browse it.
    in_ci = _driftgate(
        evals,
        {**env, "GITHUB_ACTIONS": "true"},
        *("compare", "--local", "--candidate", cand, "--baseline", base),
    )
    assert in_ci.code == 0, in_ci.output
    assert "/ui/experiments/" not in in_ci.stdout
    assert "Pages: `driftgate serve` serves the embedded store's experiments (at" in in_ci.stdout

    # An explicit --report-dir is a path like any other: relative to where it is typed.
    _run(evals, env, "--report-dir", "out")
    assert (evals / "out" / "report.json").is_file()


def test_no_baseline_fail_fails_a_branch_whose_base_never_recorded(
    tmp_path: Path, env: dict[str, str]
) -> None:
    root, _, _ = _repo(tmp_path)
    _git(root, "checkout", "--quiet", "-b", "feature")
    (root / "NOTES.md").write_text("notes\n")
    _git(root, "add", ".")
    _commit(root, "notes")

    failed = _run(root, env, "--no-baseline", "fail")
    assert failed.code == 1, failed.output
    assert _report(root)["verdict"] == "no_baseline"
    assert "no baseline, and --no-baseline fail: exit 1; record a run on the base" in failed.stderr

    neutral = _run(root, env)
    assert neutral.code == 0, neutral.output
    assert "no baseline: exit 0 (--no-baseline neutral; fail makes it exit 1)" in neutral.stderr


def test_a_bad_baseline_is_refused_before_the_script_runs(
    tmp_path: Path, env: dict[str, str]
) -> None:
    root, _, _ = _repo(tmp_path)

    unknown = _run(root, env, "--baseline", "0c4d1da7-0000-4000-8000-00000000dead")
    assert unknown.code == 2, unknown.output
    (line,) = [x for x in unknown.stderr.splitlines() if "--baseline" in x]
    assert "no experiment '0c4d1da7-0000-4000-8000-00000000dead' in the embedded store" in line
    assert "leave the baseline out" in line
    # Nothing ran: the script writes seen-env.json first thing, and no report was written.
    assert not (root / "seen-env.json").exists()
    assert not (root / ".driftgate" / "report").exists()

    recorded = _run(root, env)
    assert recorded.code == 0, recorded.output
    ident = _report(root)["candidate"]["id"]
    (root / "seen-env.json").unlink()

    no_such_run = _run(root, env, "--baseline", f"{ident}@9")
    assert no_such_run.code == 2, no_such_run.output
    assert "has no run 9: it has 1 run (use @1 to @1" in no_such_run.stderr
    malformed = _run(root, env, "--baseline", f"{ident}@last")
    assert malformed.code == 2, malformed.output
    assert "the run after @ must be a number from 1" in malformed.stderr
    assert not (root / "seen-env.json").exists()

    # A good one still works, and is the baseline.
    chosen = _run(root, env, "--baseline", f"{ident}@1")
    assert chosen.code == 0, chosen.output
    report = _report(root)
    assert report["baseline"]["id"] == ident
    assert report["baseline_reason"] == f"chosen explicitly ({ident}@1)"


def test_a_misspelt_rule_is_said_with_the_evaluator_it_meant(
    tmp_path: Path, env: dict[str, str]
) -> None:
    root, _, _ = _repo(tmp_path)
    (root / "driftgate.toml").write_text(
        '[metrics.exactt]\nlevel = "warn"\n\n[metrics."closeness*"]\nmin_effect = "5%"\n'
    )
    ran = _run(root, env)
    assert ran.code == 0, ran.output
    said = (
        "driftgate.toml: the rule [metrics.exactt] matches no evaluator of the compared "
        "experiments (did you mean 'exact'?); it is ignored and the default rule applies"
    )
    assert said in ran.stderr  # the terminal
    markdown = (root / ".driftgate" / "report" / "report.md").read_text()
    report = _report(root)
    (note,) = [n for n in report["notes"] if "matches no evaluator" in n]  # the report
    assert note == f"{root / said}: rename it to the evaluator's label"
    # report.md, as the terminal shows it: the note as written, copyable.
    (shown,) = [line for line in markdown.splitlines() if "matches no evaluator" in line]
    assert "the rule [metrics.exactt] matches" in shown
    assert "(did you mean 'exact'?)" in shown
    # The glob that matches is not warned about.
    assert "closeness" not in " ".join(report["notes"])


def test_from_a_subdirectory_the_configuration_at_the_root_applies(
    tmp_path: Path, env: dict[str, str]
) -> None:
    root, evals, _ = _repo(tmp_path, "evals")
    (root / "driftgate.toml").write_text('[metrics.exactt]\nlevel = "warn"\n')
    ran = _run(evals, env)
    assert ran.code == 0, ran.output
    # Found from evals/: its (misspelt) rule is read, and said.
    assert f"{root / 'driftgate.toml'}: the rule [metrics.exactt]" in ran.stderr
    # The nearest file wins: one in evals/ is the one read.
    (evals / "driftgate.toml").write_text('[metrics.exacto]\nlevel = "warn"\n')
    nearer = _run(evals, env)
    assert f"{evals / 'driftgate.toml'}: the rule [metrics.exacto]" in nearer.stderr
    assert "exactt" not in nearer.stderr
