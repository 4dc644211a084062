"""The gate's flow, given its edges: compare two experiments, or run a command and gate what
it recorded (find, wait, resolve the baseline, compare). The CLI and the Action build the
edges (client, git, output) and call in here; nothing here parses arguments or environment.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from driftgate.ci.context import CIContext
from driftgate.ci.git import GitError, GitRepo
from driftgate.ci.runner import CommandResult, run_command
from driftgate.compare import compare, error_report, experiment_ref, no_baseline_report
from driftgate.compare.schema import Report, Verdict
from driftgate.config import GateConfig
from driftgate.experiments import baseline as baselines
from driftgate.experiments.client import ExperimentsClient, backend_from_env
from driftgate.experiments.discover import (
    WaitPolicy,
    find_experiments,
    for_commit,
    wait_until_finished,
)
from driftgate.experiments.models import ExperimentInfo
from driftgate.report import ReportContext

# Worst first: the overall verdict of several experiments is the worst of theirs.
SEVERITY: tuple[Verdict, ...] = ("error", "fail", "warn", "no_baseline", "pass")
ANCESTOR_LIMIT = 200


def worst(verdicts: Sequence[Verdict]) -> Verdict:
    for verdict in SEVERITY:
        if verdict in verdicts:
            return verdict
    return "pass"


@dataclass(frozen=True)
class GateResult:
    """What one `driftgate run` found: a report per experiment the command recorded."""

    reports: list[Report]
    command: CommandResult | None = None
    found_how: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> Verdict:
        return worst([r.verdict for r in self.reports]) if self.reports else "error"

    def as_json(self) -> dict[str, Any]:
        """The first experiment's report at the top level (the documented contract), the
        overall verdict, every experiment's report under `experiments`, and the command."""
        first = self.reports[0].model_dump(mode="json") if self.reports else {}
        out: dict[str, Any] = {
            **first,
            "verdict": self.verdict,
            "experiments": [r.model_dump(mode="json") for r in self.reports],
            "found": self.found_how,
            "notes": self.notes,
        }
        if self.command is not None:
            c = self.command
            out["command"] = {
                "command": c.command,
                "exit_code": c.exit_code,
                "timed_out": c.timed_out,
                "duration_s": round(c.duration_s, 3),
                "started_at": c.started_at.isoformat(),
                "tail": c.tail,
            }
        return out


def result_from_json(data: Mapping[str, Any]) -> GateResult:
    """A `GateResult` back from its JSON (`as_json`): how the fork-safe publish step reads
    what the pull request's read-only run left, re-validated field by field."""
    reports = [Report.model_validate(r) for r in data.get("experiments") or []]
    command = None
    raw = data.get("command")
    if isinstance(raw, Mapping):
        command = CommandResult(
            command=str(raw.get("command", "")),
            exit_code=raw.get("exit_code") if isinstance(raw.get("exit_code"), int) else None,
            timed_out=bool(raw.get("timed_out")),
            started_at=datetime.fromisoformat(str(raw.get("started_at"))),
            duration_s=float(raw.get("duration_s") or 0.0),
            tail=str(raw.get("tail") or ""),
        )
    notes = [str(n) for n in data.get("notes") or []]
    return GateResult(reports, command, str(data.get("found") or ""), notes)


@dataclass
class Gate:
    """The edges the flow needs."""

    client: ExperimentsClient
    config: GateConfig
    progress: Callable[[str], None]
    experiment_url: Callable[[str], str | None] = lambda _id: None


def compare_refs(
    gate: Gate,
    candidate_ref: str,
    baseline_ref: str | None,
    *,
    ancestors: Sequence[str] = (),
    base_branch: str | None = None,
    pipeline: str | None = None,
) -> Report:
    """`driftgate compare`: refs are experiment ids, optionally `ID@RUN`."""
    cand_id, cand_run = baselines.split_run(candidate_ref)
    candidate = gate.client.get_experiment(cand_id)
    choice = baselines.resolve(
        gate.client,
        candidate,
        explicit=baseline_ref,
        ancestors=ancestors,
        base_branch=base_branch,
        pipeline=pipeline,
    )
    return _gate_one(gate, candidate, cand_run, choice)


def _gate_one(
    gate: Gate, candidate: ExperimentInfo, run: int | None, choice: baselines.BaselineChoice
) -> Report:
    cand_url = gate.experiment_url(candidate.id)
    if candidate.status == "interrupted":
        return error_report(
            f"the experiment {candidate.name or candidate.id} was interrupted before it "
            "finished: nothing trustworthy to compare",
            candidate=experiment_ref(candidate, url=cand_url),
            baseline_reason=choice.reason,
        )
    gate.progress(f"reading {candidate.name or candidate.id}")
    cand_data = gate.client.experiment_data(candidate.id, run)
    if choice.experiment is None:
        return no_baseline_report(
            cand_data, gate.config, baseline_reason=choice.reason, candidate_url=cand_url
        )
    gate.progress(f"reading the baseline {choice.experiment.name or choice.experiment.id}")
    base_data = gate.client.experiment_data(choice.experiment.id, choice.run)
    return compare(
        base_data,
        cand_data,
        gate.config,
        baseline_reason=choice.reason,
        baseline_url=gate.experiment_url(choice.experiment.id),
        candidate_url=cand_url,
    )


@dataclass(frozen=True)
class RunPlan:
    command: Sequence[str] | str
    cwd: Path
    env: Mapping[str, str]
    pipeline: str
    timeout_s: float | None
    wait: WaitPolicy
    explicit_baseline: str | None = None
    secrets: Sequence[str] = ()


def run_and_gate(
    gate: Gate,
    ctx: CIContext,
    plan: RunPlan,
    ancestors: Callable[[CIContext], list[str]],
    echo: Callable[[str], None],
) -> GateResult:
    """`driftgate run`: run the command, then gate every experiment it recorded."""
    # What this commit already has (an earlier run of the same commit) is not this run's.
    existing = set(for_commit(gate.client, ctx.head_sha)) if ctx.head_sha else set()
    result = run_command(
        plan.command,
        cwd=plan.cwd,
        env=plan.env,
        timeout_s=plan.timeout_s,
        echo=echo,
        secrets=plan.secrets,
    )
    notes = list(ctx.notes)
    if not result.ok:
        return GateResult(
            [error_report(f"the experiment command failed: {result.describe_failure()}")],
            result,
            notes=notes,
        )
    found, how = find_experiments(
        gate.client, result.experiment_ids, ctx.head_sha, result.started_at, existing
    )
    if not found:
        message = (
            f"the command finished but recorded no experiment that driftgate can find ({how}); "
            "print the experiment's URL (ddtrace's experiment.url) or let ddtrace tag the "
            "commit (DD_GIT_COMMIT_SHA is set for it)"
        )
        return GateResult([error_report(message)], result, how, notes)
    gate.progress(f"found {len(found)} experiment{'s' if len(found) > 1 else ''} ({how})")
    finished = wait_until_finished(gate.client, found, plan.wait, gate.progress)
    history = ancestors(ctx)
    reports = []
    for candidate in finished:
        choice = baselines.resolve(
            gate.client,
            candidate,
            explicit=plan.explicit_baseline,
            ancestors=history,
            base_branch=ctx.base_branch,
            pipeline=plan.pipeline,
            exclude=[e.id for e in finished],
            on_base_branch=ctx.on_base_branch,
        )
        reports.append(_gate_one(gate, candidate, None, choice))
    return GateResult(reports, result, how, notes)


EMBEDDED = "the embedded store"


def report_context(
    ctx: CIContext | None, pipeline: str, backend: str, run_url: str | None = None
) -> ReportContext:
    """What the report says about where it ran; without a context (compare), only the
    pipeline and the backend."""
    return ReportContext(
        repository=ctx.repository if ctx else None,
        pipeline=pipeline,
        head_sha=ctx.head_sha if ctx else None,
        base_branch=ctx.base_branch if ctx else None,
        pr_number=ctx.pr_number if ctx else None,
        run_url=run_url,
        backend=backend,
    )


@contextmanager
def embedded_backend(db: Path) -> Iterator[tuple[ExperimentsClient, str]]:
    """The embedded store on `db`, served in this process for as long as the block runs, and
    a client on it; yields the client and the store's URL (for the user's command)."""
    # Imported here: a gate that reads Datadog never needs the HTTP server's modules.
    from driftgate.store.server import BackgroundStore

    db.parent.mkdir(parents=True, exist_ok=True)
    with BackgroundStore(str(db)) as store:
        local = backend_from_env({"DD_LLMOBS_OVERRIDE_ORIGIN": store.url})
        with ExperimentsClient(local) as client:
            yield client, store.url


def local_ancestors(git: GitRepo) -> Callable[[CIContext], list[str]]:
    """The commits whose runs may serve as the baseline, newest first: the merge-base and its
    first-parent ancestors; on the base branch itself, the head's ancestors without the head.
    Empty when the checkout lacks the history (a shallow clone): the base branch's newest
    run is then the fallback."""

    def ancestors(ctx: CIContext) -> list[str]:
        start = ctx.head_sha if ctx.on_base_branch else ctx.merge_base
        if not start:
            return []
        try:
            shas: list[str] = git.first_parent_ancestors(start, ANCESTOR_LIMIT)
        except GitError:
            return []
        return shas[1:] if ctx.on_base_branch else shas

    return ancestors
