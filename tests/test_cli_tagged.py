"""Issue 14's "done when", through real processes: an unmodified ddtrace script whose dataset
records carry tags (tests/scripts/tagged_experiment.py: 12 easy, 12 medium and 12 hard sums,
one 3-run experiment on the whole dataset and one on `pull_dataset(tags=["difficulty:hard"])`)
recorded on main and gated on a branch by `driftgate run --local`, in a real git repository;
then searched with `driftgate records` and compared again with `run --where`.

What each test expects is worked out here from the script's own rules (which records a model
gets wrong, each record's scores, categories and tokens per run), never by driftgate's query
code: a test that asked `driftgate.query` what to expect could not fail with it.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from driftgate.errors import EXIT_USAGE
from driftgate.verdict import EXIT_GATE_FAILED
from tests import test_cli_run
from tests.test_baselines_real import _gate
from tests.test_cli_run import _commit, _git

pytestmark = pytest.mark.slow

env = test_cli_run.env  # the fixture: an environment without CI, Datadog or driftgate

SCRIPT = Path(__file__).parent / "scripts" / "tagged_experiment.py"
PIPELINE = "quiz"


def _load_script() -> ModuleType:
    """The script as a module, for its rules (its `main` is not run)."""
    spec = importlib.util.spec_from_file_location("tagged_experiment", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RULES = _load_script()
RECORDS = range(RULES.PER_DIFFICULTY * len(RULES.DIFFICULTIES))
RUNS = range(1, RULES.RUNS + 1)
HARD = [i for i in RECORDS if RULES.difficulty(i) == "hard"]


def _passes(model: str, index: int, run: int) -> bool:
    """Whether `correct` passes: the script's `wrong` under `model`, and a task that raised
    has no output, which is never right."""
    if model == "calc-1-lite" and index == RULES.RAISES_ON:
        return False
    saved = RULES.MODEL
    RULES.MODEL = model
    try:
        return not RULES.wrong(index, run)
    finally:
        RULES.MODEL = saved


def _pass_rate(model: str, records: list[int]) -> float:
    return sum(_passes(model, i, r) for i in records for r in RUNS) / (len(records) * len(RUNS))


@dataclass(frozen=True)
class Gated:
    code: int
    stderr: str
    report: dict[str, Any]
    markdown: str

    def experiment(self, name: str) -> dict[str, Any]:
        """The report of the experiment `name` ("quiz" or "quiz-hard")."""
        (found,) = [r for r in self.report["experiments"] if r["candidate"]["experiment"] == name]
        return found


@dataclass(frozen=True)
class Project:
    repo: Path
    env: dict[str, str]
    recorded: Gated  # main's run: the baselines
    gated: Gated  # the branch's run against them

    @property
    def db(self) -> Path:
        return self.repo / ".driftgate" / "store.db"


def _run(repo: Path, env: dict[str, str], *options: str) -> Gated:
    gated = _gate(repo, env, PIPELINE, *options)
    return Gated(gated.exit_code, gated.output, gated.report, gated.markdown)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Project:
    """main records calc-1; the branch `lite` switches to calc-1-lite (worse on the hard
    sums only) and is gated against it."""
    repo = tmp_path_factory.mktemp("tagged") / "project"
    repo.mkdir()
    (repo / "experiment.py").write_text(SCRIPT.read_text())
    (repo / ".gitignore").write_text(".driftgate/\n")
    _git(repo, "init", "--quiet", "-b", "main")
    _git(repo, "config", "user.name", "driftgate tests")
    _git(repo, "config", "user.email", "tests@driftgate.invalid")
    _git(repo, "config", "commit.gpgsign", "false")
    _git(repo, "add", ".")
    _commit(repo, "the tagged experiment")
    recorded = _run(repo, env)
    assert recorded.code == 0, recorded.stderr
    assert recorded.report["verdict"] == "no_baseline"

    _git(repo, "checkout", "--quiet", "-b", "lite")
    script = repo / "experiment.py"
    source, changed = re.subn(
        r'^MODEL = "calc-1"$', 'MODEL = "calc-1-lite"', script.read_text(), flags=re.M
    )
    assert changed == 1
    script.write_text(source)
    _commit(repo, "a cheaper model")
    gated = _run(repo, env)
    return Project(repo, env, recorded, gated)


# -- a regression confined to one tag ----------------------------------------------------------


def test_a_regression_confined_to_hard_shows_in_its_slice_only(project: Project) -> None:
    gated = project.gated
    assert gated.code == EXIT_GATE_FAILED, gated.stderr
    quiz = gated.experiment("quiz")
    assert quiz["candidate"]["records"] == quiz["baseline"]["records"] == len(RECORDS)
    slices = {(s["tag"], s["metric"]["name"]): s for s in quiz["slices"]}
    assert set(slices) == {
        (f"difficulty:{d}", m) for d in RULES.DIFFICULTIES for m in ("correct", "random_evaluator")
    }
    hard = slices[("difficulty:hard", "correct")]
    assert hard["metric"]["verdict"] == "regressed"
    assert hard["changed"] is True
    assert hard["gated"] is False  # exploratory: not named in [slices]
    assert hard["metric"]["gate"] == "pass"
    assert hard["metric"]["n"] == len(HARD)
    assert hard["metric"]["baseline"] == pytest.approx(_pass_rate("calc-1", HARD))
    assert hard["metric"]["candidate"] == pytest.approx(_pass_rate("calc-1-lite", HARD))
    assert hard["tests"] == len(slices)  # adjusted over every slice looked at
    for key, found in slices.items():
        if key != ("difficulty:hard", "correct"):
            assert found["metric"]["verdict"] == "unchanged", key
            assert found["changed"] is False, key

    # The table shows the one slice that changed, under the metrics.
    rows = [line for line in gated.markdown.splitlines() if line.startswith("| difficulty:")]
    quiz_rows = [r for r in rows if r.startswith("| difficulty:hard | correct | 100.0% | 13.9% |")]
    assert len(quiz_rows) == 1, rows
    assert quiz_rows[0].endswith("| 12 | regressed | exploratory |")
    assert not [r for r in rows if r.startswith(("| difficulty:easy", "| difficulty:medium"))]
    assert "Slices by tag (exploratory unless gated: p-values adjusted over 6 slice tests" in (
        gated.markdown
    )


def test_without_a_baseline_no_slice_is_compared(project: Project) -> None:
    """main's first run: the records carry tags, but there is nothing to compare a slice
    with; the JSON says so with empty lists, and no table is drawn."""
    for experiment in project.recorded.report["experiments"]:
        assert experiment["verdict"] == "no_baseline"
        assert experiment["slices"] == []
        assert experiment["slices_skipped"] == []
        assert experiment["where"] is None
    assert "Slices by tag" not in project.recorded.markdown


def test_the_subset_pulled_by_tag_is_gated_on_its_records(project: Project) -> None:
    """`pull_dataset(tags=["difficulty:hard"])`: 12 records, all hard; one tag value, so no
    slice of its own, and the regression in its metrics."""
    hard = project.gated.experiment("quiz-hard")
    assert hard["candidate"]["records"] == hard["baseline"]["records"] == len(HARD)
    assert hard["slices"] == []
    assert hard["slices_skipped"] == ["difficulty: one value only (hard)"]
    correct = next(m for m in hard["metrics"] if m["name"] == "correct")
    assert correct["verdict"] == "regressed"
    assert correct["candidate"] == pytest.approx(_pass_rate("calc-1-lite", HARD))
    assert {tuple(r["tags"]) for r in hard["records"]["flipped"]} == {("difficulty:hard",)}


def test_a_reviewer_reads_inputs_every_runs_outputs_and_the_tasks_error(project: Project) -> None:
    markdown = project.gated.markdown
    # Headed by the input, the record's tags beside its id; each side's three runs counted.
    a, b = RULES.operands(25)
    wrong_twice = "\n".join(
        [
            f"### regressed: index: 25 · question: {a} + {b} (correct pass -> 33% pass)",
            "- record: ",
        ]
    )
    assert wrong_twice in markdown
    section = markdown[markdown.index(wrong_twice) :].split("\n\n")[0].splitlines()
    assert section[2:] == [
        "- tags: difficulty:hard",
        f'- input: {{"index":25,"question":"{a} + {b}"}}',
        f"- expected: {a + b}",
        f"- baseline (3 runs): {a + b} x3",
        f"- candidate (3 runs): {a + b + 10} x2 · {a + b} x1",
    ]
    # The task raised on every run of one record: its message, not an empty output.
    a, b = RULES.operands(RULES.RAISES_ON)
    message = f"calc-1-lite overflowed on {a} + {b}"
    (line,) = {x for x in markdown.splitlines() if message in x}
    assert line.startswith("- candidate (3 runs): error x3: ")
    flipped = project.gated.experiment("quiz")["records"]["flipped"]
    (raised,) = [r for r in flipped if json.loads(r["input"])["index"] == RULES.RAISES_ON]
    [outputs] = raised["candidate_outputs"]
    assert outputs["runs"] == 3
    assert message in outputs["error"]


# -- Datadog's multi-run queries on a 3-run experiment -----------------------------------------


def _records(project: Project, query: str, *args: str) -> subprocess.CompletedProcess[str]:
    baseline = project.recorded.experiment("quiz")["candidate"]["id"]
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "driftgate.cli",
            "records",
            baseline,
            "--db",
            str(project.db),
            "--query",
            query,
            *args,
        ],
        cwd=project.repo,
        env=project.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _matched(project: Project, query: str) -> list[tuple[int, int | None]]:
    """(record index, run) of each listed line; run None for a record over its runs."""
    proc = _records(project, query, "--format", "json", "--limit", "0")
    assert proc.returncode == 0, proc.stderr
    listed = json.loads(proc.stdout)
    assert listed["matched"] == listed["shown"] == len(listed["records"])
    return sorted((json.loads(r["input"])["index"], r["run"]) for r in listed["records"])


def _modes(values: list[str]) -> set[str]:
    counts = Counter(values)
    return {v for v, n in counts.items() if n == max(counts.values())}


def _expect(keep: Callable[[int], bool], run: int | None = None) -> list[tuple[int, int | None]]:
    found = [(i, run) for i in RECORDS if keep(i)]
    # Not a vacuous check: some records match and some do not.
    assert 0 < len(found) < len(RECORDS)
    return found


def test_the_pages_multi_run_examples_list_the_records_worked_out_by_hand(
    project: Project,
) -> None:
    def average_score(i: int) -> float:
        return sum(RULES.score(i, r) for r in RUNS) / len(RUNS)

    def average_tokens(i: int) -> float:
        return sum(sum(RULES.tokens(i, r)) for r in RUNS) / len(RUNS)

    query = (
        "@multi_run_avg.@evaluations.custom.random_evaluator:>0.5 "
        "@multi_run_mode.@evaluations.custom.sentient_evaluator:positive"
    )
    assert _matched(project, query) == _expect(
        lambda i: (
            average_score(i) > 0.5 and "positive" in _modes([RULES.sentiment(i, r) for r in RUNS])
        )
    )
    assert _matched(project, "@multi_run_avg.@trace.total_tokens:>1000") == _expect(
        lambda i: average_tokens(i) > 1000
    )
    assert _matched(project, "run_iteration:1 @trace.total_tokens:>1000") == _expect(
        lambda i: sum(RULES.tokens(i, 1)) > 1000, run=1
    )
    # With a tag: the records' dataset tags reach the query.
    assert _matched(project, "difficulty:hard @multi_run_avg.@trace.total_tokens:>1000") == [
        (i, None) for i in HARD if average_tokens(i) > 1000
    ]


def test_the_unsupported_mix_is_refused_with_the_pages_explanation(project: Project) -> None:
    query = "@multi_run_avg.@trace.total_tokens:>1000 @trace.estimated_total_cost:>0.01"
    proc = _records(project, query)
    assert proc.returncode == EXIT_USAGE
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    *_, message, shown, caret = proc.stderr.splitlines()
    assert message.startswith(
        "driftgate: error: --query: column 42: queries that mix @multi_run_avg./"
        "@multi_run_mode. columns with plain columns"
    )
    assert "are not supported" in message
    assert "make every column multi-run, or make every column plain" in message
    assert shown == f"  {query}"
    assert caret == "  " + " " * 41 + "^"


@pytest.mark.parametrize(
    ("query", "column", "expected"),
    [
        ("difficulty:hard @trace.total_tokens:>>1000", 38, "expected a number"),
        ("run_iteration:1 @trace.total_tokens:", 37, "expected a value after ':'"),
        ("difficulty:hard OR difficulty:easy", 17, "OR is not supported"),
    ],
)
def test_a_malformed_query_names_its_column(
    project: Project, query: str, column: int, expected: str
) -> None:
    proc = _records(project, query)
    assert proc.returncode == EXIT_USAGE
    assert "Traceback" not in proc.stderr
    *_, message, shown, caret = proc.stderr.splitlines()
    assert message.startswith(f"driftgate: error: --query: column {column}: ")
    assert expected in message
    assert shown == f"  {query}"
    assert caret.index("^") == 2 + column - 1


# -- run --where: a restricted comparison through the real store --------------------------------


def test_run_where_compares_the_hard_records_alone(project: Project) -> None:
    restricted = _run(project.repo, project.env, "--where", "difficulty:hard")
    assert restricted.code == EXIT_GATE_FAILED, restricted.stderr
    quiz = restricted.experiment("quiz")
    assert quiz["where"] == "difficulty:hard"
    assert quiz["records"]["compared"] == len(HARD)
    assert quiz["candidate"]["records"] == quiz["baseline"]["records"] == len(HARD)
    correct = next(m for m in quiz["metrics"] if m["name"] == "correct")
    assert correct["verdict"] == "regressed"
    assert correct["baseline"] == pytest.approx(_pass_rate("calc-1", HARD))
    assert correct["candidate"] == pytest.approx(_pass_rate("calc-1-lite", HARD))
    for side in ("baseline", "candidate"):
        note = (
            f"{side}: restricted by --where to `difficulty:hard`: {len(HARD)} of "
            f"{len(RECORDS)} records (the rows matching it)"
        )
        assert any(w.startswith(note) for w in quiz["warnings"]), quiz["warnings"]
    # The slice is the whole comparison now: its key has one value left.
    assert quiz["slices"] == []
    assert quiz["slices_skipped"] == ["difficulty: one value only (hard)"]
    assert restricted.experiment("quiz-hard")["where"] == "difficulty:hard"
    assert "- where: difficulty:hard (only the records this query matches are compared)" in (
        restricted.markdown
    )
    # Without --where, the gate's report says nothing of a restriction.
    assert project.gated.experiment("quiz")["where"] is None
    assert "- where:" not in project.gated.markdown
