"""The gate's own overhead in `driftgate run --local`: everything but the user's command.

In a temporary git repository, an unmodified ddtrace experiment of N records x 3 evaluators
(boolean, score, categorical) x 3 runs (benchmarks/scripts/ingest_experiment.py) is recorded
on main once; then, on a branch, `driftgate run --local` gates it `--repeat` times. Each
time, the overhead is the process's wall time minus the command's own duration (report.json's
`command.duration_s`): interpreter startup, imports, git context, the embedded store's start
and stop, finding the experiment, waiting for it, resolving the baseline, reading both
experiments, comparing, reporting, the interpreter's exit. The median is the figure. The
start-up is the part before the command starts (report.json's `command.started_at`).

Work the gate does while the command runs (its store's start, imports on a thread) costs no
"overhead" but may slow the command; so the command is also timed alone, recording into the
revision's own `driftgate serve` in a process of its own, and the table shows the wall time
of `run` minus that: what a user waits for beyond their script.

One more gated run happens behind timers (the revision's entry point with its phases
wrapped), for the breakdown; plus the imports alone, in a fresh interpreter, with and
without a bytecode cache. Where the store runs in a process of its own, its CPU is not in
the breakdown's "cpu" line.

`--compare-rev REV` measures another revision of driftgate in the same run: a temporary
`git worktree` of REV with its own `uv sync --frozen` environment and its own repository
and store, gated alternately with this checkout's, so that both meet the same machine load.

    uv run python benchmarks/gate_overhead.py                      # 1,000 records, 5 repeats
    uv run python benchmarks/gate_overhead.py --compare-rev 67ffacb --repeat 9
    uv run python benchmarks/gate_overhead.py --records 200 --repeat 3 --no-save

Bytecode: when the environment says PYTHONDONTWRITEBYTECODE, every process compiles each
module it imports from source, which an installed driftgate (pip, the Action's image) never
does. The measured processes get a bytecode cache of their own (PYTHONPYCACHEPREFIX in the
temporary directory, warmed by the main-branch run); the imports are also timed without it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
CHECKOUT = HERE.parent
EXPERIMENT = HERE / "scripts" / "ingest_experiment.py"
RESULTS = HERE / "results" / "gate_overhead.json"
TARGET_S = 0.5

# What `driftgate run` imports before its command starts (every revision imports at least
# this much before it; older ones import everything there), and what it needs after.
BEFORE = (
    "import driftgate.cli; "
    "from driftgate import session; "
    "from driftgate.experiments import baseline, client, discover; "
    "from driftgate.store import clients, server"
)
AFTER = (
    "import driftgate.compare.engine; "
    "import driftgate.experiments.events; "
    "import driftgate.report.render"
)

# Runs the revision's own `driftgate` entry point with its phases timed; argv[1] is where
# the timings go. Nothing is imported ahead of the run (that would move its imports out of
# their phases): each function is wrapped when its module is first imported. Written
# against the names the measured revisions have: a phase whose function a revision lacks
# is left out of its breakdown, never a crash.
PROBE = r"""
import importlib.abc, json, sys, threading, time

began = time.perf_counter()
spans = {}
lock = threading.Lock()

PHASES = {
    "driftgate.session": (
        ("load_config", "config"),
        ("build_context", "git context"),
        ("for_commit", "runs already recorded"),
        ("run_command", "command"),
        ("find_experiments", "find"),
        ("wait_until_finished", "wait"),
        ("_ancestry", "git ancestry"),
        ("_Session._gate_one", "read and compare"),
    ),
    # The store in this process (a thread), or in a process of its own.
    "driftgate.store.server": (
        ("BackgroundServer.start", "store start"),
        ("BackgroundStore.stop", "store stop"),
    ),
    # Opened and bound before the command, served from a thread that starts with it.
    "driftgate.store.deferred": (
        ("DeferredStore.__init__", "store open"),
        ("DeferredStore.wait", "store wait"),
    ),
    "driftgate.store.process": (
        ("StoreProcess.url", "store start"),
        ("StoreProcess.stop", "store stop"),
    ),
    "driftgate.experiments.baseline": (("resolve", "baseline"),),
    "driftgate.experiments.client": (("ExperimentsClient.experiment_data", "read"),),
    "driftgate.cli.commands": (("exit_code", "exit code"),),
}


def timed(name, fn):
    def wrapper(*args, **kwargs):
        start, cpu = time.perf_counter(), time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            with lock:
                spans.setdefault(name, []).append(
                    (start, time.perf_counter(), cpu, time.process_time())
                )
    return wrapper


def patch(module):
    for path, name in PHASES.get(module.__name__, ()):
        *owners, attr = path.split(".")
        owner = module
        for part in owners:
            owner = getattr(owner, part, None)
        if owner is not None and hasattr(owner, attr):
            setattr(owner, attr, timed(name, getattr(owner, attr)))


class Patcher(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname not in PHASES:
            return None
        for finder in sys.meta_path:
            if finder is not self and hasattr(finder, "find_spec"):
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    break
        else:
            return None
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            patch(module)

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, Patcher())
import driftgate.cli as cli

real_main = cli.main


def main(argv=None):
    try:
        return real_main(argv)
    finally:
        with open(PROBE_OUT, "w") as f:
            json.dump(
                {"began": began, "ended": time.perf_counter(), "cpu": time.process_time(),
                 "spans": spans},
                f,
            )


PROBE_OUT = sys.argv[1]
sys.argv = ["driftgate", *sys.argv[2:]]
cli.main = main
if hasattr(cli, "entry"):
    cli.entry()
sys.exit(cli.main())
"""


@dataclass(frozen=True)
class Revision:
    """A driftgate to measure: its interpreter, and what to call it."""

    label: str
    python: str
    commit: str | None


def _git(repo: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True)
    return proc.stdout.strip()


def _environment(cache: Path, write: bool = True) -> dict[str, str]:
    """The parent's environment without CI, Datadog or uv settings; bytecode read from
    `cache` only, and written there when `write` (so an empty `cache` with `write=False`
    means every module is compiled from source, whatever __pycache__ folders the venv may
    have)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DD_", "GITHUB_", "DRIFTGATE_")) and k != "VIRTUAL_ENV"
    }
    # ddtrace buffers at most 1,000 spans between two writer flushes (1 s by default) and
    # drops the rest; a quick task makes far more. Flushing often makes it send everything,
    # so that driftgate reads and compares all the records (checked below).
    env["_DD_LLMOBS_WRITER_INTERVAL"] = "0.05"
    env["PYTHONPYCACHEPREFIX"] = str(cache)
    if write:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


@dataclass
class Run:
    wall: float
    command: float
    start_up: float
    report: dict[str, Any]

    @property
    def overhead(self) -> float:
        return self.wall - self.command


def _gate(
    repo: Path, records: int, env: dict[str, str], python: str, probe: Path | None = None
) -> Run:
    """One `driftgate run --local` with `python`'s driftgate: its wall time, the command's
    duration, the start-up (until the command started) and report.json."""
    head = [python, "-m", "driftgate.cli"] if probe is None else [python, "-c", PROBE, str(probe)]
    argv = [*head, "run", "--local", "--pipeline", "bench", "--", python, "experiment.py"]
    argv.append(str(records))
    shutil.rmtree(repo / ".driftgate" / "report", ignore_errors=True)  # never read a stale one
    spawned = time.time()
    started = time.perf_counter()
    proc = subprocess.run(argv, cwd=repo, env=env, capture_output=True, text=True, check=False)
    ended = time.perf_counter()
    written = repo / ".driftgate" / "report" / "report.json"
    # The exit code first: a run that failed before writing its report (an exception in the
    # probe, a usage error) would otherwise end this benchmark in a FileNotFoundError that
    # hides its output.
    if proc.returncode not in (0, 1) or not written.is_file():
        sys.exit(f"driftgate run failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    report = json.loads(written.read_text())
    if report["verdict"] == "error":
        sys.exit(f"driftgate run gave an error verdict:\n{proc.stdout}\n{proc.stderr}")
    command = report["command"]
    start_up = datetime.fromisoformat(command["started_at"]).timestamp() - spawned
    return Run(ended - started, command["duration_s"], start_up, report)


def _project(workdir: Path, rev: Revision, records: int, env: dict[str, str]) -> Path:
    """A repository whose main branch has a run recorded by `rev`, checked out on a branch
    one commit ahead: every gate then finds that baseline."""
    repo = workdir / "project"
    repo.mkdir(parents=True)
    shutil.copy(EXPERIMENT, repo / "experiment.py")
    (repo / ".gitignore").write_text(".driftgate/\n")
    _git(repo, "init", "--quiet", "-b", "main")
    _git(repo, "config", "user.name", "bench")
    _git(repo, "config", "user.email", "bench@driftgate.invalid")
    _git(repo, "add", ".")
    _git(repo, "commit", "--quiet", "-m", "experiment")
    first = _gate(repo, records, env, rev.python)
    assert first.report["verdict"] == "no_baseline", first.report["verdict"]
    _git(repo, "checkout", "--quiet", "-b", "change")
    _git(repo, "commit", "--quiet", "--allow-empty", "-m", "a change")
    return repo


def _python(python: str, code: str, env: dict[str, str], repeat: int) -> float:
    """Median wall time of `python -c code` in a fresh interpreter."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run([python, "-c", code], env=env, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


@contextmanager
def _worktree(rev: str, workdir: Path) -> Iterator[Revision]:
    """REV checked out in a temporary `git worktree`, with its own locked environment."""
    uv = shutil.which("uv")
    if uv is None:
        sys.exit("--compare-rev needs uv on PATH (it syncs the revision's own environment)")
    path = workdir / "rev"
    try:
        commit = _git(CHECKOUT, "rev-parse", "--verify", f"{rev}^{{commit}}")
    except subprocess.CalledProcessError:
        sys.exit(f"--compare-rev {rev}: no such revision in {CHECKOUT}")
    _git(CHECKOUT, "worktree", "add", "--quiet", "--detach", str(path), commit)
    try:
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PROJECT")}
        subprocess.run(
            [uv, "sync", "--frozen", "--quiet"], cwd=path, env=env, check=True, timeout=900
        )
        yield Revision(f"{rev} ({commit[:7]})", str(path / ".venv" / "bin" / "python"), commit)
    finally:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(path)],
            cwd=CHECKOUT,
            capture_output=True,
            check=False,
        )


def measure(
    records: int, repeat: int, workdir: Path, compare_rev: str | None = None
) -> dict[str, Any]:
    ours = Revision("this checkout", sys.executable, _head())
    with _maybe_worktree(compare_rev, workdir) as theirs:
        revisions = [ours] if theirs is None else [ours, theirs]
        envs = [_environment(workdir / f"pycache-{i}") for i in range(len(revisions))]
        repos = [
            _project(workdir / f"rev-{i}", rev, records, envs[i]) for i, rev in enumerate(revisions)
        ]
        runs: list[list[Run]] = [[] for _ in revisions]
        for n in range(repeat):
            # Alternately, so that both meet the same load; which goes first alternates too.
            order = list(enumerate(revisions))
            for i, rev in order if n % 2 == 0 else order[::-1]:
                run = _gate(repos[i], records, envs[i], rev.python)
                # The gate did the whole job: the baseline found and every record compared.
                assert run.report["baseline"] is not None, run.report["baseline_reason"]
                assert run.report["records"]["compared"] == records, run.report["records"]
                runs[i].append(run)
                print(
                    f"  run {n + 1}, {rev.label}: wall {run.wall:.2f} s, command "
                    f"{run.command:.2f} s, overhead {run.overhead:.2f} s (start-up "
                    f"{run.start_up:.2f} s)",
                    flush=True,
                )
        results = []
        for i, rev in enumerate(revisions):
            probe = workdir / f"phases-{i}.json"
            started = time.perf_counter()
            _gate(repos[i], records, envs[i], rev.python, probe)
            ended = time.perf_counter()
            results.append(
                _summary(rev, runs[i], json.loads(probe.read_text()), started, ended, envs[i])
            )
            results[-1]["imports_s"] = _imports(rev.python, envs[i], workdir, repeat)
        for i, rev in enumerate(revisions):
            alone = _alone(rev, records, envs[i], workdir, repeat)
            results[i]["command_alone_median_s"] = round(alone, 3)
            results[i]["wall_minus_alone_s"] = round(results[i]["wall_median_s"] - alone, 3)
    return {
        "records": records,
        "evaluators": 3,
        "runs": 3,
        "repeat": repeat,
        "target_s": TARGET_S,
        "revisions": results,
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def _alone(rev: Revision, records: int, env: dict[str, str], workdir: Path, repeat: int) -> float:
    """Median wall time of the command alone, without `driftgate run`: the same script
    recording into the revision's own `driftgate serve`, in a process of its own (started
    before the clock), with the environment `driftgate run` gives it. The yardstick of
    what a user waits for beyond their script: work the gate does while the command runs
    (starting its store, importing) shows as a slower command under `run`, not here."""
    db = workdir / f"alone-{abs(hash(rev.python))}.db"
    serve = [rev.python, "-m", "driftgate.cli", "serve", "--port", "0", "--db", str(db)]
    server = subprocess.Popen(serve, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        run_env = {
            **env,
            "DD_LLMOBS_OVERRIDE_ORIGIN": url,
            "DD_API_KEY": "driftgate-local",
            "DD_APP_KEY": "driftgate-local",
            "DD_APM_TRACING_ENABLED": "false",
            "DD_INSTRUMENTATION_TELEMETRY_ENABLED": "false",
            "DD_REMOTE_CONFIGURATION_ENABLED": "false",
        }
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            subprocess.run(
                [rev.python, str(EXPERIMENT), str(records)],
                env=run_env,
                check=True,
                capture_output=True,
                cwd=workdir,
            )
            times.append(time.perf_counter() - started)
    finally:
        server.terminate()
        server.wait()
    return statistics.median(times)


@contextmanager
def _maybe_worktree(rev: str | None, workdir: Path) -> Iterator[Revision | None]:
    if rev is None:
        yield None
        return
    with _worktree(rev, workdir) as theirs:
        yield theirs


def _summary(
    rev: Revision,
    runs: list[Run],
    phases: dict[str, Any],
    started: float,
    ended: float,
    env: dict[str, str],
) -> dict[str, Any]:
    def median(values: list[float]) -> float:
        return round(statistics.median(values), 3)

    return {
        "revision": rev.label,
        "commit": rev.commit,
        "overhead_median_s": median([r.overhead for r in runs]),
        "overhead_runs_s": [round(r.overhead, 3) for r in runs],
        "start_up_median_s": median([r.start_up for r in runs]),
        "after_command_median_s": median([r.overhead - r.start_up for r in runs]),
        "wall_median_s": median([r.wall for r in runs]),
        "command_median_s": median([r.command for r in runs]),
        "breakdown_s": _breakdown(phases, started, ended),
    }


def _imports(python: str, env: dict[str, str], workdir: Path, repeat: int) -> dict[str, float]:
    """The imports alone, in a fresh interpreter: before the command (with and without a
    bytecode cache) and after it."""
    bare = _python(python, "pass", env, repeat)
    uncached = _environment(workdir / f"empty-{abs(hash(python))}", write=False)
    return {
        "python start-up": round(bare, 3),
        "before the command": round(_python(python, BEFORE, env, repeat) - bare, 3),
        "before the command, no bytecode cache": round(
            _python(python, BEFORE, uncached, 3) - bare, 3
        ),
        "after the command": round(
            _python(python, f"{BEFORE}; {AFTER}", env, repeat)
            - _python(python, BEFORE, env, repeat),
            3,
        ),
    }


def _breakdown(phases: dict[str, Any], started: float, ended: float) -> dict[str, float]:
    spans: dict[str, list[list[float]]] = phases["spans"]
    command = spans["command"][-1]

    def total(name: str, before: bool | None = None) -> float:
        """The time in phase `name`, all of it or its part before (after) the command."""
        out = 0.0
        for start, end, *_ in spans.get(name, []):
            lo = max(start, command[1]) if before is False else start
            hi = min(end, command[0]) if before is True else end
            out += max(hi - lo, 0.0)
        return out

    # The two reads overlap where a revision reads them at once: their union.
    reads = spans.get("read", [])
    read = max((e for _, e, *_ in reads), default=0.0) - min((s for s, *_ in reads), default=0.0)
    # The store's first stop after the command (a later one finds it stopped).
    stop_end = min(
        (e for _, e, *_ in spans.get("store stop", []) if e >= command[1]), default=command[1]
    )
    exit_code = spans["exit code"][-1][0] if "exit code" in spans else phases["ended"]
    before = {
        "config": total("config"),
        "git context": total("git context"),
        # A store served from a thread that starts with the command: its file and port,
        # taken before it (the serving overlaps the command).
        "store start (before the command)": total("store open")
        if "store open" in spans
        else total("store start", before=True),
        "runs already recorded": total("runs already recorded"),
    }
    after = {
        "store up (waited for after the command)": total("store wait", before=False),
        "find": total("find"),
        "wait": total("wait"),
        "git ancestry": total("git ancestry"),
        "baseline": total("baseline"),
        "read both experiments": read,
        "compare": max(total("read and compare") - read, 0.0),
        "store stop": total("store stop", before=False),
        "report (render, write, print)": max(exit_code - stop_end, 0.0),
    }
    start_up = command[0] - started
    out = {
        "process start (spawn, interpreter)": phases["began"] - started,
        # imports, argument parsing, whatever no timer covers
        "before the command, untimed (imports, ...)": command[0]
        - phases["began"]
        - sum(before.values()),
        **before,
        **after,
        "after the command, untimed (imports, ...)": phases["ended"]
        - command[1]
        - sum(after.values()),
        "interpreter exit": ended - phases["ended"],
        "start-up (until the command starts)": start_up,
        "total (wall - command)": ended - started - (command[1] - command[0]),
        # Less sensitive to a busy machine than wall time: CPU seconds of the driftgate
        # process (all its threads, an in-process store's too) outside the command, exit
        # excluded.
        "cpu, in process (outside the command)": phases["cpu"] - (command[3] - command[2]),
    }
    return {k: round(v, 3) for k, v in out.items()}


def _head() -> str | None:
    proc = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=HERE, capture_output=True, text=True, check=False
    )
    return proc.stdout.strip() or None


def _print(result: dict[str, Any]) -> None:
    revs = result["revisions"]
    print(
        f"\ndriftgate run --local, {result['records']:,} records x 3 evaluators x 3 runs, "
        f"median of {result['repeat']} (load average {result['load_average'][0]} on "
        f"{result['cpus']} CPUs):\n"
    )
    print("| | " + " | ".join(r["revision"] for r in revs) + " |")
    print("|---|" + "---|" * len(revs))
    rows = (
        ("**gate overhead** (wall - command)", "overhead_median_s"),
        ("start-up (until the command starts)", "start_up_median_s"),
        ("after the command (until exit)", "after_command_median_s"),
        ("the command (ddtrace script)", "command_median_s"),
        ("wall time of `driftgate run`", "wall_median_s"),
        ("the command alone (into `driftgate serve`, no `run`)", "command_alone_median_s"),
        ("wall time of `run` - the command alone", "wall_minus_alone_s"),
    )
    for label, key in rows:
        print(f"| {label} | " + " | ".join(f"{r[key]:.2f} s" for r in revs) + " |")
    verdict = "under" if revs[0]["overhead_median_s"] <= TARGET_S else "OVER"
    print(f"\nThis checkout: {verdict} the {TARGET_S} s target.")
    print("\nWhere the overhead goes (one more run each, in-process timers):\n")
    print("| phase | " + " | ".join(r["revision"] for r in revs) + " |")
    print("|---|" + "---|" * len(revs))
    for phase in revs[0]["breakdown_s"]:
        cells = [f"{r['breakdown_s'].get(phase, float('nan')):.3f}" for r in revs]
        print(f"| {phase} | " + " | ".join(cells) + " |")
    print("\nImports alone, fresh interpreter (seconds):\n")
    print("| | " + " | ".join(r["revision"] for r in revs) + " |")
    print("|---|" + "---|" * len(revs))
    for what in revs[0]["imports_s"]:
        print(f"| {what} | " + " | ".join(f"{r['imports_s'][what]:.3f}" for r in revs) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--compare-rev",
        metavar="REV",
        help="also measure this git revision (a temporary worktree with its own environment)",
    )
    parser.add_argument("--no-save", action="store_true", help=f"do not write {RESULTS.name}")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="driftgate-overhead-") as tmp:
        result = measure(args.records, args.repeat, Path(tmp), args.compare_rev)
    _print(result)
    if not args.no_save:
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
        print(f"\nwritten to {RESULTS.relative_to(CHECKOUT)}")


if __name__ == "__main__":
    main()
