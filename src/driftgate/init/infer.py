"""What `driftgate init` works out about a repository, from what the edge read of it
(`workspace.py`): the experiment script, the experiment's name and from it the pipeline, the
default branch, and how the script's requirements are installed.

Pure: no file, git or process is touched here, so every rule is tested on plain values. Paths
are strings relative to the repository's root, `/`-separated, as they go into a workflow.

Why the pipeline is the experiment's name: the baseline is the newest earlier run of the same
experiment name (`experiments/baseline.py`); the pipeline names the check and the comment.
Named after the experiment, the check says what it gates, and the two cannot drift apart in
a way that costs a baseline.
"""

from __future__ import annotations

import ast
import posixpath
import re
import shlex
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from driftgate.errors import UsageError
from driftgate.verdict import PIPELINE

HEAD_BYTES = 64 * 1024
"""How much of each Python file is read: scripts make their calls well within it."""

PER_RUN_VARIABLE = "DRIFTGATE_EXPERIMENT_NAME"
FALLBACK_PIPELINE = "evals"
MAX_LISTED = 5  # other scripts named in the output

_IMPORTS = re.compile(
    r"^[ \t]*(?:from[ \t]+ddtrace(?:\.[\w.]+)?[ \t]+import\b|import[ \t]+ddtrace\b)", re.M
)
_EXPERIMENT_CALL = re.compile(r"\.(?:async_)?experiment\s*\(")
_DATASET_CALL = re.compile(r"\b(?:pull_dataset|create_dataset|create_dataset_from_csv)\s*\(")
_RUN_CALL = re.compile(r"\.run\s*\(")
# When the head does not parse (cut at HEAD_BYTES, or Python 2): the name's literal, if the
# call gives one.
_LITERAL_NAME = re.compile(
    r"\.(?:async_)?experiment\s*\(\s*(?:name\s*=\s*)?([\"'])([^\"'\\\n]{1,200})\1"
)
_NOT_PIPELINE = re.compile(r"[^A-Za-z0-9_.-]+")
_YAML_EXPRESSION = "${{"

Strength = Literal["experiment", "dataset", "run"]
NameKind = Literal["literal", "per-run", "computed", "none"]

_STRENGTH_WORDS: dict[Strength, str] = {
    "experiment": "calls LLMObs.experiment",
    "dataset": "uses ddtrace's datasets: pull_dataset, create_dataset",
    "run": "imports LLMObs and calls .run(",
}
_STRENGTH_ORDER: dict[Strength, int] = {"experiment": 0, "dataset": 1, "run": 2}


# ------------------------------------------------------------------------- what was read


@dataclass(frozen=True)
class SourceFile:
    path: str
    """Relative to the repository's root, `/`-separated."""
    head: str
    """The first HEAD_BYTES of the file, decoded (bytes that are not UTF-8 replaced)."""


@dataclass(frozen=True)
class GitFacts:
    origin_head: str | None
    """The branch `origin/HEAD` names (a clone records the remote's default branch)."""
    init_default: str | None
    """git's `init.defaultBranch` setting."""
    current: str | None
    """The checked-out branch (an unborn one too), None when detached."""
    branches: tuple[str, ...]
    """The local branches."""
    has_origin: bool = False
    """Whether a remote `origin` exists (to say how to record its HEAD)."""


@dataclass(frozen=True)
class Facts:
    """What the edge read of the repository, and nothing else."""

    root_name: str
    """The repository's folder name."""
    project: str
    """The folder `driftgate init` was pointed at, relative to the root (`.` for the root):
    where the commands run and `driftgate.toml` goes."""
    sources: tuple[SourceFile, ...]
    """Python files under `project` that may use ddtrace (the edge keeps those whose head
    mentions llmobs)."""
    manifests: Mapping[str, str] = field(default_factory=dict)
    """`requirements.txt` and `pyproject.toml` files between the project's files and the
    root, by path, with their head (a pyproject's, to see whether it installs)."""
    existing_config: str | None = None
    """The gate configuration the project's commands would use today (a `driftgate.toml`,
    or a `pyproject.toml` with `[tool.driftgate]`), if any."""
    git: GitFacts | None = None
    """None outside a git repository."""
    script: SourceFile | None = None
    """The file given with --script, read."""


@dataclass(frozen=True)
class Options:
    pipeline: str | None = None
    branch: str | None = None
    fork_publish: bool = False


# ------------------------------------------------------------------------- what is inferred


@dataclass(frozen=True)
class ExperimentName:
    kind: NameKind
    names: tuple[str, ...] = ()
    """The literal names, in the order of their calls (one per experiment the script runs)."""
    evaluators: tuple[str, ...] = ()
    """The evaluator labels of the first experiment call (function names), when readable."""


@dataclass(frozen=True)
class Plan:
    """Everything the files are rendered from, and the words that say where each came from."""

    script: str
    script_why: str
    others: tuple[str, ...]
    skipped: tuple[str, ...]
    command: str
    working_directory: str
    experiment: ExperimentName
    pipeline: str
    pipeline_why: str
    branch: str
    branch_why: str
    setup: str | None
    setup_why: str
    config: str | None
    """Where `driftgate.toml` is written, relative to the root; None when one applies already."""
    config_why: str
    fork_publish: bool
    notes: tuple[str, ...] = ()
    """What the user should know: a name that changes between runs, a script that does not
    look like an experiment, a remote whose HEAD is unrecorded."""


class InitError(UsageError):
    """Something `driftgate init` cannot infer or accept; the message says what to pass."""


# ------------------------------------------------------------------------- the script


@dataclass(frozen=True, order=True)
class _Rank:
    strength: int
    test: bool
    depth: int
    path: str


def evidence(head: str) -> Strength | None:
    """How a file uses ddtrace's experiments API, strongest first; None if it does not."""
    if not _IMPORTS.search(head):
        return None
    if _EXPERIMENT_CALL.search(head):
        return "experiment"
    if _DATASET_CALL.search(head):
        return "dataset"
    if "LLMObs" in head and _RUN_CALL.search(head):
        return "run"
    return None


def is_test_file(path: str) -> bool:
    parts = path.split("/")
    name = parts[-1]
    return (
        any(part in ("tests", "test") for part in parts[:-1])
        or name.startswith("test_")
        or name.endswith("_test.py")
        or name == "conftest.py"
    )


def workflow_problem(text: str) -> str | None:
    """Why `text` (a path, a branch) cannot be written into a workflow, or None.

    Control and invisible characters would break the YAML or hide in it; `${{` would be read
    by GitHub as an expression, which no quoting prevents."""
    if not text:
        return "it is empty"
    if not text.isprintable():
        return "it holds control or invisible characters"
    if _YAML_EXPRESSION in text:
        return "it holds '${{', which GitHub would evaluate as an expression"
    return None


def shown(text: str) -> str:
    """`text` safe for a terminal: as it is when printable, else Python's quoted form."""
    return text if text.isprintable() else repr(text)


def choose_script(
    sources: Sequence[SourceFile], project: str
) -> tuple[SourceFile, str, tuple[str, ...], tuple[str, ...]]:
    """The script, why it, the other candidates, and candidates whose names no workflow can
    hold. The rule: what the file does (calls LLMObs.experiment, then datasets, then only
    `.run(`), files outside tests first, then the fewest folders below the project, then
    by name."""
    ranked: list[tuple[_Rank, SourceFile, Strength]] = []
    skipped: list[str] = []
    for source in sources:
        strength = evidence(source.head)
        if strength is None:
            continue
        if workflow_problem(source.path):
            skipped.append(source.path)
            continue
        depth = len(_relative(source.path, project).split("/"))
        rank = _Rank(_STRENGTH_ORDER[strength], is_test_file(source.path), depth, source.path)
        ranked.append((rank, source, strength))
    ranked.sort(key=lambda item: item[0])
    if not ranked:
        where = "the repository" if project == "." else project
        found = (
            f" ({len(skipped)} with names a workflow cannot hold: rename them)" if skipped else ""
        )
        raise InitError(
            f"no Python file in {shown(where)} uses ddtrace's experiments API "
            f"(LLMObs.experiment, pull_dataset, create_dataset){found}; pass the script that "
            "runs your experiment with --script PATH"
        )
    _, chosen, strength = ranked[0]
    others = tuple(source.path for _, source, _ in ranked[1:])
    why = f"it {_STRENGTH_WORDS[strength]}"
    if others:
        why += (
            f"; chosen from {len(ranked)} candidates: experiment calls first, files outside "
            "tests first, then the nearest to the project's root, then by name; --script "
            "picks another"
        )
    return chosen, why, others, tuple(skipped)


# ------------------------------------------------------------------------- the experiment


def experiment_name(head: str) -> ExperimentName:
    """The name(s) the script gives `LLMObs.experiment`: literals (a string, or a variable
    assigned one string), per-run (`DRIFTGATE_EXPERIMENT_NAME`), or computed (an f-string,
    anything else). Read from the syntax tree; from the text when the head does not parse."""
    try:
        tree = ast.parse(head)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return _name_from_text(head)
    assigned: dict[str, list[ast.expr]] = {}
    calls: list[ast.Call] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    assigned.setdefault(target.id, []).append(node.value)
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            if isinstance(node.target, ast.Name):
                assigned.setdefault(node.target.id, []).append(node.value)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("experiment", "async_experiment")
        ):
            calls.append(node)
    if not calls:
        return ExperimentName("none")
    calls.sort(key=lambda call: (call.lineno, call.col_offset))
    kinds: list[NameKind] = []
    names: list[str] = []
    for call in calls:
        argument = _argument(call, "name", 0)
        kind, name = _resolve(argument, assigned) if argument is not None else ("computed", None)
        kinds.append(kind)
        if name is not None and name not in names:
            names.append(name)
    first = kinds[0]
    evaluators = _evaluators(calls[0], assigned)
    if first == "literal":
        return ExperimentName("literal", tuple(names), evaluators)
    return ExperimentName(first, (), evaluators)


def _argument(call: ast.Call, keyword: str, position: int) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg == keyword:
            return kw.value
    if len(call.args) > position and not any(
        isinstance(a, ast.Starred) for a in call.args[: position + 1]
    ):
        return call.args[position]
    return None


def _resolve(
    node: ast.expr, assigned: Mapping[str, list[ast.expr]], depth: int = 0
) -> tuple[NameKind, str | None]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return "literal", node.value
    if any(
        isinstance(inner, ast.Constant) and inner.value == PER_RUN_VARIABLE
        for inner in ast.walk(node)
    ):
        return "per-run", None
    if isinstance(node, ast.Name) and depth < 5:
        values = assigned.get(node.id, [])
        if len(values) == 1:  # assigned once: the variable is that value
            return _resolve(values[0], assigned, depth + 1)
    return "computed", None


def _evaluators(call: ast.Call, assigned: Mapping[str, list[ast.expr]]) -> tuple[str, ...]:
    node = _argument(call, "evaluators", 3)
    if isinstance(node, ast.Name) and len(assigned.get(node.id, [])) == 1:
        node = assigned[node.id][0]
    if not isinstance(node, ast.List | ast.Tuple):
        return ()
    labels: list[str] = []
    for element in node.elts:
        if isinstance(element, ast.Name):
            labels.append(element.id)
        elif isinstance(element, ast.Attribute):
            labels.append(element.attr)
    return tuple(labels)


def _name_from_text(head: str) -> ExperimentName:
    names = list(dict.fromkeys(m.group(2) for m in _LITERAL_NAME.finditer(head)))
    if names:
        return ExperimentName("literal", tuple(names))
    if PER_RUN_VARIABLE in head:
        return ExperimentName("per-run")
    if _EXPERIMENT_CALL.search(head):
        return ExperimentName("computed")
    return ExperimentName("none")


# ------------------------------------------------------------------------- the pipeline


def sanitize_pipeline(text: str) -> str:
    """`text` made a pipeline name (letters, digits, `.`, `_`, `-`; at most 64, starting
    with a letter or digit): accents dropped, other runs of characters turned into `-`."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    name = _NOT_PIPELINE.sub("-", ascii_text)
    name = re.sub(r"^[^A-Za-z0-9]+", "", name)[:64]
    name = name.rstrip("-.")
    return name if PIPELINE.fullmatch(name) else FALLBACK_PIPELINE


def check_pipeline(name: str) -> str:
    if not PIPELINE.fullmatch(name):
        raise InitError(
            f"--pipeline {name!r} is not a pipeline name: use letters, digits, '.', '_' "
            "or '-' (at most 64), starting with a letter or digit"
        )
    return name


def choose_pipeline(
    experiment: ExperimentName, script: str, folder: str, given: str | None
) -> tuple[str, str]:
    if given is not None:
        return check_pipeline(given), "given with --pipeline"
    if experiment.kind == "literal" and len(experiment.names) == 1:
        name = experiment.names[0]
        if PIPELINE.fullmatch(name):
            return name, f"the experiment's name in {script}"
        return (
            sanitize_pipeline(name),
            f"the experiment's name in {script} ({name!r}) in a check name's charset",
        )
    return sanitize_pipeline(folder), f"the folder's name {folder!r}"


def experiment_notes(experiment: ExperimentName, script: str, pipeline: str) -> list[str]:
    """What the user must know about the name, for baselines to be found."""
    if experiment.kind == "per-run":
        return [
            f"{script} names each run from {PER_RUN_VARIABLE} (`{pipeline}-<run id>`): "
            f"baselines are found by the pipeline, so keep `pipeline: {pipeline}` as it is"
        ]
    if experiment.kind == "computed":
        return [
            f"{script} computes the experiment's name: the baseline is the newest earlier run "
            "of the same name, so a name that changes between commits (an f-string with the "
            "model in it, say) never finds one; give LLMObs.experiment a fixed name"
        ]
    if experiment.kind == "none":
        return [
            f"no LLMObs.experiment call was found in {script}: driftgate gates the experiments "
            "the command records, so make sure it runs one"
        ]
    if len(experiment.names) > 1:
        listed = ", ".join(shown(name) for name in experiment.names)
        return [
            f"{script} records {len(experiment.names)} experiments ({listed}): the check "
            f"`driftgate / {pipeline}` gates them all, each compared with its own baseline"
        ]
    return []


# ------------------------------------------------------------------------- the branch


def choose_branch(git: GitFacts | None, given: str | None) -> tuple[str, str, list[str]]:
    """The default branch (where baselines are recorded), why, and notes."""
    if given is not None:
        return given, "given with --branch", []
    if git is None:
        return "main", "not a git repository: assumed main; --branch sets it", []
    if git.origin_head:
        return git.origin_head, "the remote's default branch, origin/HEAD", []
    notes = []
    if git.has_origin:
        notes.append(
            "origin/HEAD is not recorded in this clone: `git remote set-head origin --auto` "
            "records the remote's default branch"
        )
    if git.init_default and git.init_default in git.branches:
        return git.init_default, "git's init.defaultBranch, a branch of this repository", notes
    present = [name for name in ("main", "master") if name in git.branches]
    if len(present) == 1:
        return present[0], "the repository's only main or master branch", notes
    if git.current:
        return git.current, "the checked-out branch; no remote says otherwise", notes
    if git.init_default:
        return git.init_default, "git's init.defaultBranch", notes
    return "main", "nothing else to go by: assumed main; --branch sets it", notes


# ------------------------------------------------------------------------- the setup


def _relative(path: str, start: str) -> str:
    return posixpath.relpath(path, start) if start != "." else path


def _installs(pyproject: str) -> bool:
    """Whether `pip install <folder>` would install something: a project or a build system."""
    return re.search(r"(?m)^\s*\[(?:project|build-system)\]", pyproject) is not None


def choose_setup(
    script: str, working_directory: str, manifests: Mapping[str, str]
) -> tuple[str | None, str]:
    """How the script's requirements are installed: the nearest `requirements.txt`, else the
    nearest `pyproject.toml` that installs, from the script's folder up to the root."""
    folder = posixpath.dirname(script) or "."
    while True:
        requirements = posixpath.normpath(posixpath.join(folder, "requirements.txt"))
        pyproject = posixpath.normpath(posixpath.join(folder, "pyproject.toml"))
        if requirements in manifests:
            target = shlex.quote(_relative(requirements, working_directory))
            return f"pip install -r {target}", f"{requirements}, the nearest to the script"
        if pyproject in manifests and _installs(manifests[pyproject]):
            target = posixpath.relpath(folder, working_directory)
            if target not in (".", "..") and not target.startswith("../"):
                target = "./" + target  # a path to pip, never a package's name
            return (
                f"pip install {shlex.quote(target)}",
                f"{pyproject}, the nearest to the script: a project pip can install",
            )
        if folder == ".":
            return None, (
                "no requirements.txt or installable pyproject.toml from the script's folder up "
                "to the root: ddtrace is preinstalled; add `setup:` for anything else"
            )
        folder = posixpath.dirname(folder) or "."


# ------------------------------------------------------------------------- the plan


def command_for(script: str, working_directory: str) -> str:
    relative = _relative(script, working_directory)
    if relative.startswith("-"):
        relative = "./" + relative  # never an option to python
    return f"python {shlex.quote(relative)}"


def plan(facts: Facts, options: Options) -> Plan:
    """Everything `driftgate init` writes, worked out from `facts`; `InitError` when a
    script, branch or pipeline cannot be found or used."""
    notes: list[str] = []
    if facts.script is not None:
        chosen = facts.script
        problem = workflow_problem(chosen.path)
        if problem:
            raise InitError(
                f"--script {shown(chosen.path)}: the name cannot go into a workflow ({problem}); "
                "rename the file"
            )
        strength = evidence(chosen.head)
        script_why = "given with --script"
        if strength is None:
            notes.append(
                f"{chosen.path} does not seem to use ddtrace's experiments API "
                "(LLMObs.experiment): driftgate gates the experiments the command records"
            )
        others: tuple[str, ...] = ()
        skipped: tuple[str, ...] = ()
    else:
        chosen, script_why, others, skipped = choose_script(facts.sources, facts.project)
    script = chosen.path
    working_directory = facts.project

    experiment = experiment_name(chosen.head)
    folder = facts.root_name if facts.project == "." else posixpath.basename(facts.project)
    pipeline, pipeline_why = choose_pipeline(experiment, script, folder, options.pipeline)
    notes += experiment_notes(experiment, script, pipeline)

    branch, branch_why, branch_notes = choose_branch(facts.git, options.branch)
    problem = workflow_problem(branch)
    if problem:
        raise InitError(
            f"the branch {shown(branch)} cannot go into a workflow ({problem}); pass the "
            "default branch with --branch NAME"
        )
    notes += branch_notes

    setup, setup_why = choose_setup(script, working_directory, facts.manifests)
    target = posixpath.normpath(posixpath.join(facts.project, "driftgate.toml"))
    if facts.existing_config is not None and facts.existing_config != target:
        config: str | None = None
        config_why = f"{facts.existing_config} configures the gate already: kept as it is"
    else:
        config, config_why = target, "every setting commented out at its default"
    return Plan(
        script=script,
        script_why=script_why,
        others=others,
        skipped=skipped,
        command=command_for(script, working_directory),
        working_directory=working_directory,
        experiment=experiment,
        pipeline=pipeline,
        pipeline_why=pipeline_why,
        branch=branch,
        branch_why=branch_why,
        setup=setup,
        setup_why=setup_why,
        config=config,
        config_why=config_why,
        fork_publish=options.fork_publish,
        notes=tuple(notes),
    )


# ------------------------------------------------------------------------- .gitignore

GITIGNORE_LINE = ".driftgate/"
# Lines that already keep `.driftgate/` out of git, wherever it is.
_IGNORES_STATE = {".driftgate", ".driftgate/", "/.driftgate", "/.driftgate/", "**/.driftgate/"}


def gitignore_with_state(current: str | None) -> str | None:
    """The `.gitignore` with `.driftgate/` (the store, the reports) added, or None when a line
    already ignores it. Appended: nothing the file holds is moved or lost."""
    text = current or ""
    if any(line.strip() in _IGNORES_STATE for line in text.splitlines()):
        return None
    if text and not text.endswith("\n"):
        text += "\n"
    return text + "# driftgate's embedded store and reports\n" + GITIGNORE_LINE + "\n"


def listed(paths: Iterable[str], limit: int = MAX_LISTED) -> str:
    items = [shown(p) for p in paths]
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more
