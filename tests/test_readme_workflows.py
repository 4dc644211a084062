"""The workflows the README and docs/ show, and the project's own, linted by tools none of us
wrote: actionlint (expressions, `if:`, contexts, the inputs of known actions and of ours) and
action-validator (action.yml against SchemaStore's schema of action metadata).

Every ```yaml block of README.md and docs/*.md that is a workflow or a part of one is linted: a
whole workflow as it is, a fragment inside a minimal workflow built here (WRAPPERS, one per
kind of fragment). The README's `uses: owner/driftgate@v1` names a release nobody can fetch
offline, so it is pointed at this checkout's action.yml (a local action, which actionlint
reads): a README step with an input our action.yml does not declare fails here.

All files go through one node process (tests/external/lint-workflows.cjs): loading
actionlint's wasm is most of the time. Without node or tests/external/node_modules the tests
fail, saying to run `npm ci --prefix tests/external`.
"""

from __future__ import annotations

import enum
import json
import re
import shutil
import subprocess
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
EXTERNAL = ROOT / "tests" / "external"
LINTER = EXTERNAL / "lint-workflows.cjs"
INSTALL = "run `npm ci --prefix tests/external` (Node.js 20 or later)"
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
OWN_WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))

# The README's placeholder for this action (any owner, any ref), and the local path that
# replaces it inside the project the workflows are linted in.
PLACEHOLDER = re.compile(r"(?m)^(\s*(?:-\s+)?uses:\s*)[\w.-]+/driftgate@[\w.-]+\s*$")
LOCAL_ACTION = "./driftgate-action"


class Kind(enum.Enum):
    WORKFLOW = "a whole workflow"
    JOBS = "jobs (a mapping of job ids)"
    STEPS = "steps (a list of steps)"


@dataclass(frozen=True)
class Wrapper:
    """What is put around a fragment to make it a workflow: `head` above it, its lines
    re-indented to `indent` (the place a fragment of that kind has in a workflow)."""

    head: str
    indent: int


# Triggers are those of the README's own workflows, so that their contexts are allowed.
WRAPPERS = {
    Kind.WORKFLOW: Wrapper(head="", indent=0),
    Kind.JOBS: Wrapper(
        head=textwrap.dedent("""\
            # Built by tests/test_readme_workflows.py around a README fragment of jobs.
            on: [push, pull_request]
            jobs:
            """),
        indent=2,
    ),
    Kind.STEPS: Wrapper(
        head=textwrap.dedent("""\
            # Built by tests/test_readme_workflows.py around a README fragment of steps.
            on: [push, pull_request]
            jobs:
              fragment:
                runs-on: ubuntu-latest
                steps:
            """),
        indent=6,
    ),
}

# A yaml block that is none of the kinds but names one of these keys looks like part of a
# workflow this test would leave unchecked: that is a failure, not a skip.
WORKFLOW_KEY = re.compile(r"(?m)^\s*(?:-\s+)?(uses|run|runs-on|steps|jobs|on):")


@dataclass(frozen=True)
class Block:
    document: Path
    line: int  # of the block's first line, in the document
    text: str

    @property
    def where(self) -> str:
        return f"{self.document.relative_to(ROOT)}:{self.line}"


def yaml_blocks(document: Path, text: str | None = None) -> list[Block]:
    """The fenced ```yaml (or ```yml) blocks of a Markdown document, with their line."""
    lines = (document.read_text() if text is None else text).splitlines()
    blocks: list[Block] = []
    fence: str | None = None
    is_yaml = False
    start = 0
    body: list[str] = []
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if fence is None:
            opening = re.match(r"(`{3,}|~{3,})\s*([\w+-]*)", stripped)
            if opening:
                fence, is_yaml = opening.group(1), opening.group(2).lower() in ("yaml", "yml")
                start, body = number + 1, []
        elif stripped.startswith(fence) and not stripped.strip(fence[0]):
            if is_yaml:
                blocks.append(Block(document, start, "\n".join(body) + "\n"))
            fence = None
        else:
            body.append(line)
    assert fence is None, f"{document.name}: a code block opened at line {start - 1} is not closed"
    return blocks


def kind_of(block: Block) -> Kind | None:
    try:
        data = yaml.safe_load(block.text)
    except yaml.YAMLError as error:
        raise AssertionError(f"{block.where}: the yaml block is not YAML: {error}") from None
    # YAML 1.1 (PyYAML) reads the key `on` as true.
    if isinstance(data, dict) and "jobs" in data and ("on" in data or True in data):
        return Kind.WORKFLOW
    if (
        isinstance(data, list)
        and data
        and all(isinstance(step, dict) and ("uses" in step or "run" in step) for step in data)
    ):
        return Kind.STEPS
    if (
        isinstance(data, dict)
        and data
        and all(
            isinstance(job, dict) and ("steps" in job or "uses" in job) for job in data.values()
        )
    ):
        return Kind.JOBS
    if WORKFLOW_KEY.search(block.text):
        raise AssertionError(
            f"{block.where}: this yaml block looks like part of a workflow but is none of "
            f"{', '.join(k.value for k in Kind)}: give it the shape of one, or a kind in WRAPPERS"
        )
    return None


def reindent(text: str, indent: int) -> str:
    """Moves a fragment to `indent` columns, every line by the same amount (a block scalar's
    lines keep their place relative to their key); a comment left of the fragment is put at
    `indent`."""
    lines = text.splitlines()
    content = [ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    least = min(len(ln) - len(ln.lstrip()) for ln in content)
    moved = []
    for line in lines:
        margin = len(line) - len(line.lstrip())
        if not line.strip():
            moved.append("")
        elif margin < least:
            moved.append(" " * indent + line.lstrip())
        else:
            moved.append(
                " " * (indent - least) + line if indent >= least else line[least - indent :]
            )
    return "\n".join(moved) + "\n"


@dataclass(frozen=True)
class Target:
    """One file given to actionlint, and how its lines map back to where they came from."""

    name: str  # file name in the project's .github/workflows
    kind: Kind
    text: str
    where: Callable[[int], str]  # a line of `text` -> where a reader finds it
    origin: str  # which test reads its findings
    placeholders: int = 0


def target_of_block(block: Block, kind: Kind, name: str, origin: str) -> Target:
    wrapper = WRAPPERS[kind]
    body = block.text if kind is Kind.WORKFLOW else reindent(block.text, wrapper.indent)
    text, placeholders = PLACEHOLDER.subn(rf"\g<1>{LOCAL_ACTION}", wrapper.head + body)
    head = wrapper.head.count("\n")

    def where(line: int) -> str:
        if line <= head:
            return f"{block.where} (line {line} of the {kind.name.lower()} wrapper around it)"
        return f"{block.document.relative_to(ROOT)}:{block.line + line - head - 1}"

    return Target(name, kind, text, where, origin, placeholders)


def doc_targets(document: Path, text: str | None = None, origin: str = "docs") -> list[Target]:
    targets = []
    for block in yaml_blocks(document, text):
        kind = kind_of(block)
        if kind is not None:
            name = f"{origin}-{document.stem.lower()}-{block.line}.yml"
            targets.append(target_of_block(block, kind, name, origin))
    return targets


def probe(name: str, steps: str) -> Target:
    """A workflow of ours, not from a document: `steps` inside the steps wrapper."""
    block = Block(ROOT / "tests" / "test_readme_workflows.py", 1, textwrap.dedent(steps))
    return target_of_block(block, Kind.STEPS, f"probe-{name}.yml", f"probe-{name}")


# ------------------------------------------------------- what the tests feed that must fail

# A README as it might go wrong, one fragment of each kind: each line marked BAD must be found
# at its line, with a message that holds the marked text, and nothing else may be found.
BAD_README = """\
# A README gone wrong

```yaml
# .github/workflows/evals.yml
name: evals
on:
  pull_request:
jobs:
  gate:
    runs-on: ubuntu-latest
    if: ${{ github.event_name == 'pull_request' }} && true  # BAD: always evaluated to true
    steps:
      - uses: owner/driftgate@v1
        with:
          comand: python x.py  # BAD: input "comand" is not defined in action "driftgate"
          pipeline: ${{ github.pull_request.number }}  # BAD: property "pull_request" is not
```

Some text, then a fragment of steps:

```yaml
      - uses: actions/upload-artifact@v4
        if: always() && github.event_name = 'pull_request'  # BAD: while lexing == operator
        with:
          name: driftgate-report
          path: .driftgate/artifact/
          retention: 7  # BAD: input "retention" is not defined in action "actions/upload-art
      - uses: owner/driftgate@v1
        with:
          mode: publish
          fail_on: never  # BAD: input "fail_on" is not defined in action "driftgate"
```

And a fragment of jobs:

```yaml
  publish:  # BAD: needs job "gate" which does not exist
    needs: gate
    runs-on: ubuntu-latest
    steps:
      - run: echo "${{ github.event.pull_request.title }}"  # BAD: is potentially untrusted
```
"""
BAD_DOCUMENT = ROOT / "README.bad.md"


def every_input_of_ours() -> str:
    inputs = yaml.safe_load((ROOT / "action.yml").read_text())["inputs"]
    lines = ["- uses: owner/driftgate@v1", "  with:", *(f"    {name}: x" for name in inputs)]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------- the one node run


@dataclass
class Linted:
    targets: list[Target]
    findings: dict[str, list[str]]  # origin -> "where: message [kind]"
    actions: list[str]  # action-validator's findings on action.yml
    seconds: float


def run_linter(*args: str) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    if node is None:
        pytest.fail(
            f"node is not on PATH: the workflows are linted by actionlint under node; {INSTALL}"
        )
    return subprocess.run([node, *args], capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def linted(tmp_path_factory: pytest.TempPathFactory) -> Linted:
    if not (EXTERNAL / "node_modules" / "@tktco" / "node-actionlint" / "main.wasm").is_file():
        pytest.fail(f"actionlint is not installed in tests/external/node_modules: {INSTALL}")
    # The project actionlint finds local actions in: the nearest folder above the workflow
    # holding .github/workflows and .git. The action folder is this checkout itself, so that
    # action.yml and the files it names (runs.image: Dockerfile) are checked where they are.
    project = tmp_path_factory.mktemp("lint")
    (project / ".git").mkdir()
    workflows = project / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (project / LOCAL_ACTION).symlink_to(ROOT, target_is_directory=True)

    targets = [t for document in DOCUMENTS for t in doc_targets(document)]
    targets += doc_targets(BAD_DOCUMENT, BAD_README, origin="bad")
    targets.append(probe("every-input", every_input_of_ours()))
    for target in targets:
        (workflows / target.name).write_text(target.text)
    own = {str(path): path for path in OWN_WORKFLOWS}

    started = time.monotonic()
    proc = run_linter(
        str(LINTER),
        "--action",
        str(ROOT / "action.yml"),
        *(str(workflows / t.name) for t in targets),
        *own,
    )
    seconds = time.monotonic() - started
    if proc.returncode == 3:
        pytest.fail(proc.stderr.strip())
    assert proc.returncode == 0, f"{LINTER.name} failed:\n{proc.stderr}"
    report: dict[str, list[dict[str, Any]]] = json.loads(proc.stdout)

    by_name = {t.name: t for t in targets}
    findings: dict[str, list[str]] = {}
    for finding in report["workflows"]:
        file = Path(finding["file"])
        if str(file) in own:
            origin, where = "own", f"{file.relative_to(ROOT)}:{finding['line']}"
        else:
            target = by_name[file.name]
            origin, where = target.origin, target.where(finding["line"])
        findings.setdefault(origin, []).append(f"{where}: {finding['message']} [{finding['kind']}]")
    actions = [f"action.yml {f['path']}: {f['message']}" for f in report["actions"]]
    return Linted(targets, findings, actions, seconds)


def listing(findings: list[str]) -> str:
    return "\n".join(f"  {f}" for f in findings)


# ------------------------------------------------------------------------------------ tests


def test_readme_and_docs_workflows_pass_actionlint(linted: Linted) -> None:
    found = linted.findings.get("docs", [])
    assert not found, "actionlint finds, in the documents' workflows:\n" + listing(found)


def test_the_documents_workflows_are_all_found(linted: Linted) -> None:
    """A floor, so that an extraction gone wrong cannot pass by linting nothing: the README
    shows the gate workflow and the publish workflow whole, and steps to add to them."""
    readme = [t for t in linted.targets if t.origin == "docs" and "readme" in t.name]
    whole = [t for t in readme if t.kind is Kind.WORKFLOW]
    triggers = {key for t in whole for key in (yaml.safe_load(t.text).get(True) or {})}
    assert {"pull_request", "workflow_run"} <= triggers, triggers
    assert len(readme) - len(whole) >= 1, "no fragment of steps found in the README"
    # Every driftgate step of the README was pointed at our action.yml.
    assert sum(t.placeholders for t in readme) >= 3
    for t in readme:
        assert "driftgate@" not in t.text, f"{t.name}: a driftgate step not pointed at action.yml"


def test_our_own_workflows_pass_actionlint(linted: Linted) -> None:
    assert OWN_WORKFLOWS, ".github/workflows has no workflow"
    found = linted.findings.get("own", [])
    assert not found, "actionlint finds, in .github/workflows:\n" + listing(found)


def test_action_metadata_matches_github_schema(linted: Linted) -> None:
    """action.yml against SchemaStore's schema (keys GitHub knows, a description for every
    input and output); actionlint reads it too, in every README step and the probe below."""
    assert not linted.actions, "action-validator finds:\n" + listing(linted.actions)


def test_actionlint_reads_every_input_of_our_action(linted: Linted) -> None:
    """A step setting every input action.yml declares passes: actionlint parsed our metadata
    (types of `required`, runs.using, the Dockerfile it names) and knows each input."""
    found = linted.findings.get("probe-every-input", [])
    assert not found, "actionlint finds, in a step setting every input:\n" + listing(found)


def test_a_bad_readme_fails_at_the_right_lines(linted: Linted) -> None:
    """The same extraction, wrapping and line mapping on a README gone wrong: each bad line
    is found where it is in the document, and only those."""
    found = linted.findings.get("bad", [])
    expected = {
        number: line.split("# BAD: ")[1]
        for number, line in enumerate(BAD_README.splitlines(), start=1)
        if "# BAD: " in line
    }
    at: dict[int, list[str]] = {}
    for finding in found:
        line = re.match(r"README\.bad\.md:(\d+): ", finding)
        assert line, f"a finding outside the document's lines: {finding}"
        at.setdefault(int(line.group(1)), []).append(finding)
    assert set(at) == set(expected), listing(found)
    for number, needle in expected.items():
        assert any(needle in f for f in at[number]), (
            f"line {number}: {needle!r} not in {at[number]}"
        )


def test_a_fragment_is_moved_whole() -> None:
    """Re-indenting keeps a block scalar's lines (a `#` in a script included) under their key."""
    fragment = "  - run: |\n      # not a comment: a line of the script\n      echo ok\n"
    moved = reindent(fragment, 6)
    assert moved.startswith("      - run: |\n")
    assert yaml.safe_load(moved) == yaml.safe_load(fragment)


def test_a_block_of_no_known_kind_is_refused() -> None:
    """A yaml block that looks like part of a workflow but that no wrapper fits is an error,
    not a block left unchecked."""
    block = Block(ROOT / "README.md", 3, "steps:\n  - run: echo\n")
    with pytest.raises(AssertionError, match="looks like part of a workflow"):
        kind_of(block)
    assert kind_of(Block(ROOT / "README.md", 3, "name: not a workflow\nkey: value\n")) is None


def test_the_linter_says_how_to_install_it(tmp_path: Path) -> None:
    """Without tests/external/node_modules beside it, the script names the command to run."""
    alone = tmp_path / LINTER.name
    shutil.copy(LINTER, alone)
    (tmp_path / "w.yml").write_text("on: push\njobs: {}\n")
    proc = run_linter(str(alone), str(tmp_path / "w.yml"))
    assert proc.returncode == 3
    assert "run `npm ci --prefix tests/external`" in proc.stderr


def test_linting_takes_a_few_seconds(linted: Linted) -> None:
    # One node process for every file, about 0.3 s; V8's optimising pass over the wasm, which
    # the script turns off, took 3 to 8 s on a busy machine.
    assert linted.seconds < 10, f"linting took {linted.seconds:.1f} s"
