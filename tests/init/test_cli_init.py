"""`driftgate init` on real git repositories laid out the way teams lay them out: what it
infers, what it writes, what it refuses. The workflows it writes are linted by actionlint in
test_init_actionlint.py and run through the Action's container in
tests/container/test_init_workflow.py."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from driftgate.config import GateConfig, load_config
from tests.container.workflow_inputs import literal_branch, read_gate_workflow
from tests.init.repos import (
    LAYOUTS,
    SUPPORT_BOT,
    Layout,
    clone_of,
    git,
    new_repo,
    run_init,
)

GATE = Path(".github/workflows/evals.yml")
PUBLISH = Path(".github/workflows/evals-publish.yml")


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under root but git's own, with its content."""
    files = {}
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in names:
            path = Path(folder) / name
            if path.is_file() and not path.is_symlink():
                files[str(path.relative_to(root))] = path.read_bytes()
    return files


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda layout: layout.name)
def test_init_infers_and_writes(layout: Layout, tmp_path: Path) -> None:
    root = layout.build(tmp_path)
    ran = run_init(*layout.args, cwd=root / layout.cwd)
    assert ran.code == 0, ran.err
    assert ran.err == ""
    workflow = read_gate_workflow((root / GATE).read_text())
    given = {k: str(v) for k, v in (workflow.gate.get("with") or {}).items()}
    assert {k: given.get(k) for k in layout.expect} == layout.expect
    # Nothing else is set: every other input keeps action.yml's default.
    assert set(given) <= {"command", "pipeline", "setup", "working-directory"}
    assert workflow.on_pull_request
    assert workflow.permissions == {
        "contents": "write",  # main keeps its runs in the driftgate-data branch
        "pull-requests": "write",
        "checks": "write",
        "statuses": "write",
    }
    # The command runs the script that is there, from the working directory.
    argv = shlex.split(given["command"])
    assert argv[0] == "python"
    script = root / given.get("working-directory", ".") / argv[1]
    assert script.is_file()
    assert f"wrote {GATE}" in ran.out
    assert "next: commit these files" in ran.out
    assert (root / ".gitignore").read_text().splitlines()[-1] == ".driftgate/"
    # The configuration goes where the command runs, and the gate loads it as its own.
    project = root / given.get("working-directory", ".")
    config = load_config(directory=project, root=root)
    assert config.source == str(project / "driftgate.toml")
    assert config.model_dump(exclude={"source"}) == GateConfig().model_dump(exclude={"source"})


def test_the_common_layout_never_takes_installed_or_built_code(tmp_path: Path) -> None:
    root = LAYOUTS[0].build(tmp_path)
    ran = run_init(cwd=root)
    assert ran.code == 0, ran.err
    assert "also found" not in ran.out  # .venv, node_modules, build/, a venv named py311
    assert "script     evals/experiment.py (it calls LLMObs.experiment)" in ran.out
    assert "pipeline   support-bot-eval (the experiment's name in evals/experiment.py)" in ran.out
    assert "setup      pip install -r evals/requirements.txt" in ran.out


def test_several_scripts_choose_by_the_rule_and_list_the_others(tmp_path: Path) -> None:
    root = next(layout for layout in LAYOUTS if layout.name == "several").build(tmp_path)
    ran = run_init(cwd=root)
    assert ran.code == 0, ran.err
    assert "chosen from 4 candidates" in ran.out
    # Experiment calls first (the dataset upload last), tests after, nearer before deeper.
    assert (
        "also found: scripts/nightly/eval_nightly.py, tests/test_evals.py, datasets/upload.py"
        in ran.out
    )


def test_script_given_wins_and_names_the_pipeline(tmp_path: Path) -> None:
    root = next(layout for layout in LAYOUTS if layout.name == "several").build(tmp_path)
    ran = run_init("--script", "scripts/nightly/eval_nightly.py", cwd=root)
    assert ran.code == 0, ran.err
    with_ = read_gate_workflow((root / GATE).read_text()).gate["with"]
    assert with_["command"] == "python scripts/nightly/eval_nightly.py"
    assert with_["pipeline"] == "support-bot-nightly"
    assert "(given with --script)" in ran.out


def test_a_script_is_relative_to_where_init_runs(tmp_path: Path) -> None:
    root = next(layout for layout in LAYOUTS if layout.name == "monorepo").build(tmp_path)
    bot = root / "services" / "bot"
    ran = run_init("--script", "evals/experiment.py", cwd=bot)
    assert ran.code == 0, ran.err
    with_ = read_gate_workflow((root / GATE).read_text()).gate["with"]
    assert with_["working-directory"] == "services/bot"
    assert with_["command"] == "python evals/experiment.py"
    assert (bot / "driftgate.toml").is_file()
    assert not (bot / ".github").exists()  # workflows live at the repository's root only


def test_the_monorepo_project_sees_only_its_own_scripts(tmp_path: Path) -> None:
    root = next(layout for layout in LAYOUTS if layout.name == "monorepo").build(tmp_path)
    ran = run_init("services/bot", cwd=root)
    assert ran.code == 0, ran.err
    assert "ranker" not in ran.out
    assert "(in services/bot)" in ran.out
    assert "cd services/bot && driftgate run --local" in ran.out


def test_no_script_is_one_line_saying_what_to_pass(tmp_path: Path) -> None:
    root = new_repo(tmp_path / "app", {"app/handler.py": "import ddtrace\n", "README.md": "x"})
    ran = run_init(cwd=root)
    assert ran.code == 2
    assert ran.out == ""
    assert ran.err.count("\n") == 1
    assert ran.err.startswith("driftgate: error: no Python file in the repository uses ddtrace")
    assert "--script PATH" in ran.err
    assert snapshot(root) == {"app/handler.py": b"import ddtrace\n", "README.md": b"x"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--script", "missing.py"), "--script missing.py: no such file"),
        (("--script", "../outside.py"), "--script ../outside.py: outside the repository"),
        (("--pipeline", "support bot"), "--pipeline 'support bot' is not a pipeline name"),
        (("no-such-folder",), "no-such-folder: no such folder"),
        (("--branch", "${{ github.head_ref }}"), "cannot go into a workflow"),
    ],
)
def test_bad_arguments_are_one_line(args: tuple[str, ...], message: str, tmp_path: Path) -> None:
    root = new_repo(tmp_path / "project", {"evals/experiment.py": SUPPORT_BOT})
    (tmp_path / "outside.py").write_text(SUPPORT_BOT)
    ran = run_init(*args, cwd=root)
    assert ran.code == 2
    assert ran.err.count("\n") == 1, ran.err
    assert message in ran.err
    assert not (root / ".github").exists()


def test_the_default_branch_comes_from_the_remote(tmp_path: Path) -> None:
    """A clone of a remote whose HEAD is `develop`, checked out on a feature branch."""
    root = next(layout for layout in LAYOUTS if layout.name == "develop").build(tmp_path)
    ran = run_init(cwd=root)
    assert ran.code == 0, ran.err
    assert read_gate_workflow((root / GATE).read_text()).push_branches == ("develop",)
    assert "branch     develop (the remote's default branch, origin/HEAD)" in ran.out
    assert "push them to develop" in ran.out


def test_master_from_the_remote(tmp_path: Path) -> None:
    root = next(layout for layout in LAYOUTS if layout.name == "master").build(tmp_path)
    ran = run_init(cwd=root)
    assert ran.code == 0, ran.err
    assert read_gate_workflow((root / GATE).read_text()).push_branches == ("master",)


def test_without_origin_head_the_branches_decide_and_say_how(tmp_path: Path) -> None:
    root = new_repo(tmp_path / "p", {"evals/experiment.py": SUPPORT_BOT}, branch="trunk")
    git(root, "remote", "add", "origin", "https://example.invalid/acme/p.git")
    git(root, "checkout", "--quiet", "-b", "feature")
    ran = run_init(cwd=root)
    assert "branch     feature (the checked-out branch; no remote says otherwise)" in ran.out
    assert "git remote set-head origin --auto" in ran.out

    git(root, "config", "init.defaultBranch", "trunk")
    ran = run_init("--force", cwd=root)
    assert "branch     trunk (git's init.defaultBranch, a branch of this repository)" in ran.out


def test_a_branch_filter_matches_that_branch_alone(tmp_path: Path) -> None:
    root = new_repo(tmp_path / "p", {"evals/experiment.py": SUPPORT_BOT})
    ran = run_init("--branch", "release+2.0!", cwd=root)
    assert ran.code == 0, ran.err
    (pattern,) = read_gate_workflow((root / GATE).read_text()).push_branches
    assert pattern == "release\\+2.0\\!"
    assert literal_branch(pattern) == "release+2.0!"


def test_outside_a_repository_main_is_assumed(tmp_path: Path) -> None:
    folder = tmp_path / "not-yet-a-repo"
    folder.mkdir()
    (folder / "experiment.py").write_text(SUPPORT_BOT)
    ran = run_init(cwd=folder)
    assert ran.code == 0, ran.err
    assert "branch     main (not a git repository: assumed main; --branch sets it)" in ran.out


def test_hostile_names_are_skipped_or_quoted(tmp_path: Path) -> None:
    root = next(layout for layout in LAYOUTS if layout.name == "hostile").build(tmp_path)
    ran = run_init("--fork-publish", cwd=root)
    assert ran.code == 0, ran.err
    text = (root / GATE).read_text()
    assert "${{ github.token }}" not in text and "secrets.TOKEN }}" not in text
    # Skipped, each shown so that a terminal cannot be steered by it.
    assert "skipped (names a workflow cannot hold): " in ran.out
    assert "'evals/more/new\\nline.py'" in ran.out
    assert "evals/more/${{ github.token }}.py" in ran.out
    assert "\\udce9" in ran.out  # the undecodable name, escaped
    assert "evals/more/garbage.py" in ran.out  # read and listed: its nesting crashed nothing
    # The shell runs the script whose name it was given: nothing in it is executed.
    command = read_gate_workflow(text).gate["with"]["command"]
    proc = subprocess.run(
        ["bash", "-c", command.replace("python", "printf '%s\\n'", 1)],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    assert proc.stdout == 'evals/it\'s "$(touch pwned)" & `id`.py\n'
    assert not (root / "pwned").exists()
    publish = yaml.safe_load((root / PUBLISH).read_text())
    assert publish["jobs"]["publish"]["steps"][0]["with"]["pipeline"] == "eval-secrets.TOKEN"


def test_refuses_to_overwrite_and_writes_nothing(tmp_path: Path) -> None:
    root = new_repo(tmp_path / "p", {"evals/experiment.py": SUPPORT_BOT, ".gitignore": "*.pyc"})
    (root / "driftgate.toml").write_text("alpha = 0.01\n")
    before = snapshot(root)
    ran = run_init(cwd=root)
    assert ran.code == 2
    assert ran.err == (
        "driftgate: error: driftgate.toml exists: pass --force to overwrite it "
        "(nothing was written)\n"
    )
    assert snapshot(root) == before  # not even the .gitignore line


def test_a_second_run_refuses_each_file_and_force_rewrites_them(tmp_path: Path) -> None:
    root = new_repo(tmp_path / "p", {"evals/experiment.py": SUPPORT_BOT})
    assert run_init("--fork-publish", cwd=root).code == 0
    (root / GATE).write_text("# edited by hand\n")
    before = snapshot(root)
    ran = run_init("--fork-publish", cwd=root)
    assert ran.code == 2
    assert (
        ".github/workflows/evals.yml, .github/workflows/evals-publish.yml, driftgate.toml "
        "exist: pass --force to overwrite them" in ran.err
    )
    assert snapshot(root) == before

    ran = run_init("--fork-publish", "--force", cwd=root)
    assert ran.code == 0, ran.err
    assert (root / GATE).read_text().startswith("# Written by `driftgate init`")
    assert (root / ".gitignore").read_text().count(".driftgate/") == 1
    assert "added .driftgate/" not in ran.out


def test_force_keeps_a_files_permissions(tmp_path: Path) -> None:
    root = new_repo(tmp_path / "p", {"evals/experiment.py": SUPPORT_BOT})
    (root / "driftgate.toml").write_text("")
    (root / "driftgate.toml").chmod(0o640)
    assert run_init("--force", cwd=root).code == 0
    assert (root / "driftgate.toml").stat().st_mode & 0o777 == 0o640
    assert (root / GATE).stat().st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_dry_run_writes_nothing_and_shows_every_file(tmp_path: Path) -> None:
    root = new_repo(tmp_path / "p", {"evals/experiment.py": SUPPORT_BOT})
    before = snapshot(root)
    ran = run_init("--dry-run", "--fork-publish", cwd=root)
    assert ran.code == 0, ran.err
    assert snapshot(root) == before
    assert not (root / ".github").exists()
    for path in (GATE, PUBLISH, "driftgate.toml", ".gitignore"):
        assert f"\n--- {path}\n" in ran.out
    assert "would write .github/workflows/evals.yml" in ran.out
    assert "nothing was written (--dry-run)" in ran.out


def test_dry_run_refuses_as_a_real_run_would(tmp_path: Path) -> None:
    root = new_repo(tmp_path / "p", {"evals/experiment.py": SUPPORT_BOT})
    (root / "driftgate.toml").write_text("")
    assert run_init("--dry-run", cwd=root).code == 2
    assert run_init("--dry-run", "--force", cwd=root).code == 0


def test_gitignore_gets_the_line_once_and_keeps_the_rest(tmp_path: Path) -> None:
    root = new_repo(tmp_path / "p", {"evals/experiment.py": SUPPORT_BOT, ".gitignore": "*.pyc"})
    assert run_init(cwd=root).code == 0
    assert (root / ".gitignore").read_text() == (
        "*.pyc\n# driftgate's embedded store and reports\n.driftgate/\n"
    )
    # git agrees: the store and the reports are ignored.
    git(root, "check-ignore", "--quiet", ".driftgate/store.db")
    git(root, "check-ignore", "--quiet", "services/x/.driftgate/report/report.md")

    other = new_repo(tmp_path / "q", {"x.py": SUPPORT_BOT, ".gitignore": "/.driftgate\n"})
    ran = run_init(cwd=other)
    assert (other / ".gitignore").read_text() == "/.driftgate\n"
    assert ".gitignore" not in ran.out


def test_a_configuration_in_force_is_kept(tmp_path: Path) -> None:
    pyproject = '[project]\nname = "bot"\nversion = "1"\n\n[tool.driftgate]\nalpha = 0.01\n'
    root = new_repo(
        tmp_path / "p", {"evals/experiment.py": SUPPORT_BOT, "pyproject.toml": pyproject}
    )
    ran = run_init(cwd=root)
    assert ran.code == 0, ran.err
    assert not (root / "driftgate.toml").exists()
    assert "config     pyproject.toml configures the gate already: kept as it is" in ran.out
    assert load_config(directory=root, root=root).alpha == 0.01

    # A monorepo's root configuration applies to its projects: a commented file in the
    # project would hide it.
    mono = new_repo(
        tmp_path / "m",
        {"driftgate.toml": "alpha = 0.02\n", "services/bot/evals/experiment.py": SUPPORT_BOT},
    )
    assert run_init("services/bot", cwd=mono).code == 0
    assert not (mono / "services" / "bot" / "driftgate.toml").exists()


def test_names_that_change_or_per_run_names_are_said(tmp_path: Path) -> None:
    computed = SUPPORT_BOT.replace("name=EXPERIMENT", 'name=f"support-bot-{os.getpid()}"')
    root = new_repo(tmp_path / "bot-evals", {"evals/experiment.py": computed})
    ran = run_init(cwd=root)
    assert ran.code == 0, ran.err
    assert "note: evals/experiment.py computes the experiment's name" in ran.out
    assert "pipeline   bot-evals (the folder's name 'bot-evals')" in ran.out

    per_run = SUPPORT_BOT.replace("name=EXPERIMENT", 'name=os.environ["DRIFTGATE_EXPERIMENT_NAME"]')
    root = new_repo(tmp_path / "per-run", {"evals/experiment.py": per_run})
    ran = run_init(cwd=root)
    assert "names each run from DRIFTGATE_EXPERIMENT_NAME (`per-run-<run id>`)" in ran.out


def test_init_help_runs_as_a_process() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "driftgate.cli", "init", "--help"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    for option in ("--pipeline", "--script", "--branch", "--fork-publish", "--force", "--dry-run"):
        assert option in proc.stdout


def test_the_readmes_example_is_what_init_prints(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    shown = readme.split("```text\ndriftgate init: inferred\n", 1)[1].split("```", 1)[0]
    root = clone_of(
        tmp_path,
        {"evals/experiment.py": SUPPORT_BOT, "evals/requirements.txt": "ddtrace\n"},
        "main",
        name="support-bot",
    )
    ran = run_init(cwd=root)
    assert ran.code == 0, ran.err
    assert ran.out.startswith("driftgate init: inferred\n" + shown)
