"""driftgate.init.infer on plain values: each rule of what `driftgate init` infers."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from driftgate.experiments.baseline import per_run_pipeline, same_logical
from driftgate.experiments.models import ExperimentInfo
from driftgate.init.infer import (
    ExperimentName,
    Facts,
    GitFacts,
    InitError,
    Options,
    SourceFile,
    choose_branch,
    choose_script,
    choose_setup,
    command_for,
    evidence,
    experiment_name,
    gitignore_with_state,
    plan,
    sanitize_pipeline,
    workflow_problem,
)
from driftgate.verdict import PIPELINE
from tests.init.repos import SUPPORT_BOT

IMPORT = "from ddtrace.llmobs import LLMObs\n"


@pytest.mark.parametrize(
    ("head", "strength"),
    [
        (IMPORT + "LLMObs.experiment(name='x', task=t, dataset=d, evaluators=[])", "experiment"),
        (IMPORT + "LLMObs.async_experiment('x', t, d, [])", "experiment"),
        ("import ddtrace\nddtrace.llmobs.LLMObs.experiment('x', t, d, [])", "experiment"),
        (IMPORT + "ds = LLMObs.pull_dataset(dataset_name='d')", "dataset"),
        (IMPORT + "LLMObs.create_dataset_from_csv(csv_path='a.csv', dataset_name='d')", "dataset"),
        (IMPORT + "experiment = build()\nexperiment.run(jobs=4)", "run"),
        # Imports without experiments, or experiments without ddtrace, are not scripts.
        (IMPORT + "LLMObs.enable(ml_app='bot')", None),
        ("import subprocess\nsubprocess.run(['x'])\n# LLMObs.experiment(", None),
        ("def experiment(x): ...\nexperiment(name='x')", None),
        ("from ddtrace import tracer\nsubprocess.run(['x'])", None),
    ],
)
def test_evidence(head: str, strength: str | None) -> None:
    assert evidence(head) == strength


def test_the_example_and_the_test_scripts_are_found() -> None:
    from tests.init.repos import EXAMPLE

    assert evidence(EXAMPLE.read_text()) == "experiment"
    assert experiment_name(EXAMPLE.read_text()) == ExperimentName(
        "literal", ("capitals",), ("exact_match", "similarity", "judge", "answer_shape")
    )


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            IMPORT
            + "LLMObs.experiment(name='support-bot-eval', task=t, dataset=d, evaluators=[a])",
            ExperimentName("literal", ("support-bot-eval",), ("a",)),
        ),
        (
            IMPORT + "LLMObs.experiment('positional', t, d, [exact, m.judge])",
            ExperimentName("literal", ("positional",), ("exact", "judge")),
        ),
        (
            IMPORT + "NAME: str = 'from-a-constant'\nEVALS = (a, b)\n"
            "def main():\n    LLMObs.experiment(name=NAME, task=t, dataset=d, evaluators=EVALS)",
            ExperimentName("literal", ("from-a-constant",), ("a", "b")),
        ),
        (
            IMPORT + "LLMObs.experiment(name=f'bot-{MODEL}', task=t, dataset=d, evaluators=[])",
            ExperimentName("computed"),
        ),
        (
            IMPORT + "import os\nLLMObs.experiment(name=os.environ['DRIFTGATE_EXPERIMENT_NAME'],"
            " task=t, dataset=d, evaluators=[])",
            ExperimentName("per-run"),
        ),
        (
            # A variable assigned twice is not one value.
            IMPORT
            + "N = 'a'\nN = 'b'\nLLMObs.experiment(name=N, task=t, dataset=d, evaluators=[])",
            ExperimentName("computed"),
        ),
        (
            IMPORT + "for n in ('sums', 'products'):\n    pass\n"
            "LLMObs.experiment(name='sums', task=t, dataset=d, evaluators=[])\n"
            "LLMObs.experiment(name='products', task=t, dataset=d, evaluators=[])\n",
            ExperimentName("literal", ("sums", "products")),
        ),
        (IMPORT + "LLMObs.pull_dataset(dataset_name='d')", ExperimentName("none")),
        # Cut at the head's end, or not Python 3: the literal is read from the text.
        (
            IMPORT + "x = LLMObs.experiment(\n    name='cut-short',\n    task=(",
            ExperimentName("literal", ("cut-short",)),
        ),
        (
            IMPORT + "print 'py2'\nLLMObs.experiment(name=os.environ['DRIFTGATE_EXPERIMENT_NAME']",
            ExperimentName("per-run"),
        ),
        (IMPORT + "LLMObs.experiment(" + "(" * 3000, ExperimentName("computed")),
    ],
)
def test_experiment_name(source: str, expected: ExperimentName) -> None:
    assert experiment_name(source) == expected


def test_the_arith_test_script_is_per_run_or_computed() -> None:
    """tests/scripts/arith_experiment.py picks its name at run time: never taken as literal."""
    script = Path(__file__).resolve().parents[1] / "scripts" / "arith_experiment.py"
    assert experiment_name(script.read_text()).kind == "per-run"


def _source(path: str, head: str = SUPPORT_BOT) -> SourceFile:
    return SourceFile(path, head)


def test_choose_script_rule() -> None:
    dataset_only = IMPORT + "LLMObs.create_dataset(dataset_name='d', records=[])"
    sources = [
        _source("tests/test_eval.py"),
        _source("b/deeper/run.py"),
        _source("upload.py", dataset_only),
        _source("a/run.py"),
        _source("z/run.py"),
        _source("app.py", "print('no ddtrace')"),
    ]
    chosen, why, others, skipped = choose_script(sources, ".")
    assert chosen.path == "a/run.py"
    assert others == ("z/run.py", "b/deeper/run.py", "tests/test_eval.py", "upload.py")
    assert skipped == ()
    assert "chosen from 5 candidates" in why


def test_choose_script_depth_counts_from_the_project() -> None:
    sources = [_source("services/bot/evals/deep/run.py"), _source("services/bot/x/run.py")]
    chosen, *_ = choose_script(sources, "services/bot")
    assert chosen.path == "services/bot/x/run.py"


def test_no_script_names_the_option() -> None:
    with pytest.raises(InitError, match=r"pass the script .* with --script PATH") as error:
        choose_script([_source("bad\nname.py")], "services/bot")
    assert "no Python file in services/bot" in str(error.value)
    assert "1 with names a workflow cannot hold" in str(error.value)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("evals/run.py", None),
        ('evals/it\'s "quoted" $(x).py', None),
        ("évals/ré.py", None),
        ("", "empty"),
        ("a\nb.py", "control"),
        ("a\u202eb.py", "control or invisible"),  # right-to-left override
        ("bad\udce9.py", "control or invisible"),  # undecodable bytes, surrogate-escaped
        ("${{ github.token }}.py", "expression"),
    ],
)
def test_workflow_problem(text: str, problem: str | None) -> None:
    found = workflow_problem(text)
    assert (found is None) == (problem is None)
    if problem:
        assert problem in str(found)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("support-bot-eval", "support-bot-eval"),
        ("Support Bot: v2!", "Support-Bot-v2"),
        ("café_évals", "cafe_evals"),
        ("--leading.dots..", "leading.dots"),
        ("日本語", "evals"),
        ("", "evals"),
        ("x" * 100, "x" * 64),
    ],
)
def test_sanitize_pipeline(text: str, name: str) -> None:
    assert sanitize_pipeline(text) == name


@given(st.text())
def test_sanitize_pipeline_always_gives_a_pipeline(text: str) -> None:
    assert PIPELINE.fullmatch(sanitize_pipeline(text))


def _git(**values: object) -> GitFacts:
    base: dict[str, object] = {
        "origin_head": None,
        "init_default": None,
        "current": None,
        "branches": (),
        "has_origin": False,
    }
    base.update(values)
    return GitFacts(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("git", "branch", "why"),
    [
        (
            _git(origin_head="develop", current="feature", branches=("main",)),
            "develop",
            "origin/HEAD",
        ),
        (
            _git(init_default="trunk", branches=("trunk", "main"), current="x"),
            "trunk",
            "init.defaultBranch",
        ),
        (
            _git(init_default="trunk", branches=("main", "feature"), current="feature"),
            "main",
            "only main or master",
        ),
        (_git(branches=("main", "master", "f"), current="f"), "f", "checked-out"),
        (_git(init_default="trunk"), "trunk", "init.defaultBranch"),  # no commit yet, detached
        (_git(), "main", "assumed main"),
        (None, "main", "not a git repository"),
    ],
)
def test_choose_branch(git: GitFacts | None, branch: str, why: str) -> None:
    chosen, reason, _ = choose_branch(git, None)
    assert (chosen, why in reason) == (branch, True)


def test_choose_branch_says_how_to_record_origin_head() -> None:
    _, _, notes = choose_branch(_git(has_origin=True, current="main", branches=("main",)), None)
    assert "git remote set-head origin --auto" in notes[0]
    assert choose_branch(_git(origin_head="main"), "release") == (
        "release",
        "given with --branch",
        [],
    )


INSTALLS = '[project]\nname = "x"\n'
TOOLS_ONLY = "[tool.ruff]\nline-length = 100\n"


@pytest.mark.parametrize(
    ("script", "workdir", "manifests", "setup"),
    [
        (
            "evals/run.py",
            ".",
            {"evals/requirements.txt": ""},
            "pip install -r evals/requirements.txt",
        ),
        (
            "evals/run.py",
            ".",
            {"requirements.txt": "", "pyproject.toml": INSTALLS},
            "pip install -r requirements.txt",
        ),
        ("evals/run.py", ".", {"pyproject.toml": INSTALLS}, "pip install ."),
        ("pkg/evals/run.py", ".", {"pkg/pyproject.toml": INSTALLS}, "pip install ./pkg"),
        ("evals/run.py", ".", {"pyproject.toml": TOOLS_ONLY}, None),
        (
            "svc/evals/run.py",
            "svc",
            {"svc/requirements.txt": ""},
            "pip install -r requirements.txt",
        ),
        ("svc/evals/run.py", "svc", {"requirements.txt": ""}, "pip install -r ../requirements.txt"),
        ("svc/evals/run.py", "svc", {"pyproject.toml": INSTALLS}, "pip install .."),
        (
            "my evals/run.py",
            ".",
            {"my evals/requirements.txt": ""},
            "pip install -r 'my evals/requirements.txt'",
        ),
        ("run.py", ".", {}, None),
    ],
)
def test_choose_setup(
    script: str, workdir: str, manifests: dict[str, str], setup: str | None
) -> None:
    assert choose_setup(script, workdir, manifests)[0] == setup


@pytest.mark.parametrize(
    ("script", "workdir", "command"),
    [
        ("evals/run.py", ".", "python evals/run.py"),
        ("svc/evals/run.py", "svc", "python evals/run.py"),
        ("-rf.py", ".", "python ./-rf.py"),
        ("it's $(x).py", ".", "python 'it'\"'\"'s $(x).py'"),
    ],
)
def test_command_for(script: str, workdir: str, command: str) -> None:
    assert command_for(script, workdir) == command


@pytest.mark.parametrize(
    ("current", "after"),
    [
        (None, "# driftgate's embedded store and reports\n.driftgate/\n"),
        ("", "# driftgate's embedded store and reports\n.driftgate/\n"),
        ("*.pyc", "*.pyc\n# driftgate's embedded store and reports\n.driftgate/\n"),
        ("*.pyc\n", "*.pyc\n# driftgate's embedded store and reports\n.driftgate/\n"),
        ("*.pyc\n.driftgate/\n", None),
        ("  /.driftgate  \n", None),
        # A negation or a comment does not ignore it: added.
        (
            "# .driftgate/\n",
            "# .driftgate/\n# driftgate's embedded store and reports\n.driftgate/\n",
        ),
    ],
)
def test_gitignore_with_state(current: str | None, after: str | None) -> None:
    assert gitignore_with_state(current) == after


def _facts(head: str, **extra: object) -> Facts:
    values: dict[str, object] = {
        "root_name": "support-bot",
        "project": ".",
        "sources": (SourceFile("evals/experiment.py", head),),
        "git": _git(origin_head="main"),
    }
    values.update(extra)
    return Facts(**values)  # type: ignore[arg-type]


def test_the_pipeline_is_the_experiments_name_so_baselines_match() -> None:
    """The trap a new user fell into: `pipeline: support-bot` for the experiment
    `support-bot-eval`. Named after the experiment, the pipeline can never be read as the
    stem of per-run names, and a run finds the earlier runs of its experiment."""
    planned = plan(_facts(SUPPORT_BOT), Options())
    assert planned.pipeline == "support-bot-eval"
    run = ExperimentInfo(id="1", experiment="support-bot-eval", project_id="p")
    earlier = ExperimentInfo(id="0", experiment="support-bot-eval", project_id="p")
    assert per_run_pipeline(run, planned.pipeline) is None
    assert same_logical(run, earlier, planned.pipeline)


def test_a_pipeline_given_must_fit_the_charset() -> None:
    with pytest.raises(InitError, match="not a pipeline name"):
        plan(_facts(SUPPORT_BOT), Options(pipeline="support bot"))
    assert plan(_facts(SUPPORT_BOT), Options(pipeline="bot.v2")).pipeline == "bot.v2"


def test_a_script_given_that_is_no_experiment_is_noted() -> None:
    facts = _facts(SUPPORT_BOT, script=SourceFile("run_all.sh.py", "import os\n"))
    planned = plan(facts, Options())
    assert planned.script == "run_all.sh.py"
    assert any("does not seem to use ddtrace" in note for note in planned.notes)


def test_an_existing_configuration_elsewhere_is_kept() -> None:
    planned = plan(_facts(SUPPORT_BOT, existing_config="pyproject.toml"), Options())
    assert planned.config is None
    planned = plan(_facts(SUPPORT_BOT, existing_config="driftgate.toml"), Options())
    assert planned.config == "driftgate.toml"  # the file init writes: refused unless --force
