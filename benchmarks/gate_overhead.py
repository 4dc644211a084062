"""The gate's own overhead in `driftgate run --local`: everything but the user's command.

In a temporary git repository, an unmodified ddtrace experiment of N records x 3 evaluators
(boolean, score, categorical) x 3 runs (benchmarks/scripts/ingest_experiment.py) is recorded
on main once; then, on a branch, `driftgate run --local` gates it `--repeat` times. Each
time, the overhead is the process's wall time minus the command's own duration (report.json's
`command.duration_s`): interpreter startup, imports, git context, the embedded store's start
and stop, finding the experiment, waiting for it, resolving the baseline, reading both
experiments, comparing, reporting. The median is the figure.

One more gated run happens in-process behind timers (`driftgate.cli.main` with its phases
wrapped), for the breakdown; plus the imports alone, in a fresh interpreter, with and
without a bytecode cache.

    uv run python benchmarks/gate_overhead.py                 # 1,000 records, 5 repeats
    uv run python benchmarks/gate_overhead.py --records 200 --repeat 3

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
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
EXPERIMENT = HERE / "scripts" / "ingest_experiment.py"
RESULTS = HERE / "results" / "gate_overhead.json"
TARGET_S = 1.5

# Everything `driftgate run` imports on its way (cli.main, the run command, the session,
# the store).
IMPORTS = (
    "import driftgate.cli; "
    "from driftgate import session; "
    "from driftgate.experiments import baseline, client; "
    "from driftgate.store import clients, server"
)

# Runs `driftgate.cli.main(argv)` with its phases timed; argv[1] is where the timings go.
# The order of `driftgate run`: imports, config, context, store start, [command, find,
# wait, ancestors, baseline, read + compare per experiment], store stop, report, exit.
PROBE = r"""
import json, sys, time

began = time.perf_counter()
phases = {}
marks = {}


def timed(name, fn):
    def wrapper(*args, **kwargs):
        start, cpu = time.perf_counter(), time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            phases[name] = phases.get(name, 0.0) + time.perf_counter() - start
            phases[name + " cpu"] = phases.get(name + " cpu", 0.0) + time.process_time() - cpu
            marks[name] = time.perf_counter()
    return wrapper


import driftgate.cli as cli
from driftgate import session
from driftgate.cli import commands
from driftgate.experiments import baseline, client
from driftgate.store import clients, server

phases["imports"] = time.perf_counter() - began
session.load_config = timed("config", session.load_config)
session.build_context = timed("context", session.build_context)
server.BackgroundServer.start = timed("store start", server.BackgroundServer.start)
server.BackgroundStore.stop = timed("store stop", server.BackgroundStore.stop)
session.run_command = timed("command", session.run_command)
session.find_experiments = timed("find", session.find_experiments)
session.wait_until_finished = timed("wait", session.wait_until_finished)
baseline.resolve = timed("baseline", baseline.resolve)
client.ExperimentsClient.experiment_data = timed(
    "read", client.ExperimentsClient.experiment_data
)
session.compare = timed("compare", session.compare)
commands.exit_code = timed("exit code", commands.exit_code)
code = cli.main(sys.argv[2:])
phases["report"] = marks["exit code"] - marks["store stop"]
phases["began at"] = began
phases["ended at"] = time.perf_counter()
phases["cpu"] = time.process_time()  # this process's CPU since it started, all threads
with open(sys.argv[1], "w") as f:
    json.dump(phases, f)
sys.exit(code)
"""


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def _environment(cache: Path, write: bool = True) -> dict[str, str]:
    """The parent's environment without CI or Datadog settings; bytecode read from `cache`
    only, and written there when `write` (so an empty `cache` with `write=False` means every
    module is compiled from source, whatever __pycache__ folders the venv may have)."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DD_", "GITHUB_", "DRIFTGATE_"))
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


def _gate(
    repo: Path, records: int, env: dict[str, str], probe: Path | None = None
) -> tuple[float, dict[str, Any], tuple[float, float]]:
    """One `driftgate run --local`: its wall time, report.json, and when it started and
    ended (perf_counter is the monotonic clock, the same in every process here)."""
    head = [sys.executable, "-m", "driftgate.cli"]
    if probe is not None:
        head = [sys.executable, "-c", PROBE, str(probe)]
    argv = [*head, "run", "--local", "--pipeline", "bench", "--", sys.executable]
    argv += ["experiment.py", str(records)]
    shutil.rmtree(repo / ".driftgate" / "report", ignore_errors=True)  # never read a stale one
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
    return ended - started, report, (started, ended)


def _head() -> str | None:
    proc = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=HERE, capture_output=True, text=True, check=False
    )
    return proc.stdout.strip() or None


def _python(code: str, env: dict[str, str], repeat: int) -> float:
    """Median wall time of `python -c code` in a fresh interpreter."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], env=env, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure(records: int, repeat: int, workdir: Path) -> dict[str, Any]:
    repo = workdir / "project"
    repo.mkdir()
    shutil.copy(EXPERIMENT, repo / "experiment.py")
    (repo / ".gitignore").write_text(".driftgate/\n")
    _git(repo, "init", "--quiet", "-b", "main")
    _git(repo, "config", "user.name", "bench")
    _git(repo, "config", "user.email", "bench@driftgate.invalid")
    _git(repo, "add", ".")
    _git(repo, "commit", "--quiet", "-m", "experiment")
    env = _environment(workdir / "pycache")

    _, first, _ = _gate(repo, records, env)
    assert first["verdict"] == "no_baseline", first["verdict"]
    _git(repo, "checkout", "--quiet", "-b", "change")
    _git(repo, "commit", "--quiet", "--allow-empty", "-m", "a change")

    overheads, commands, walls = [], [], []
    for i in range(repeat):
        wall, report, _ = _gate(repo, records, env)
        # The gate did the whole job: the baseline found and every record compared.
        assert report["baseline"] is not None, report["baseline_reason"]
        assert report["records"]["compared"] == records, report["records"]
        command = report["command"]["duration_s"]
        walls.append(wall)
        commands.append(command)
        overheads.append(wall - command)
        print(
            f"  run {i + 1}: wall {wall:.2f} s, command {command:.2f} s, overhead "
            f"{wall - command:.2f} s",
            flush=True,
        )

    probe = workdir / "phases.json"
    _, _, (started, ended) = _gate(repo, records, env, probe)
    phases = json.loads(probe.read_text())
    bare = _python("pass", env, repeat)
    imports_cached = _python(IMPORTS, env, repeat) - bare
    imports_uncached = _python(IMPORTS, _environment(workdir / "empty", write=False), 3) - bare
    return {
        "records": records,
        "evaluators": 3,
        "runs": 3,
        "repeat": repeat,
        "overhead_median_s": round(statistics.median(overheads), 3),
        "overhead_runs_s": [round(o, 3) for o in overheads],
        "wall_median_s": round(statistics.median(walls), 3),
        "command_median_s": round(statistics.median(commands), 3),
        "target_s": TARGET_S,
        "breakdown_s": _breakdown(phases, started, ended),
        "imports_s": {
            "bytecode cached": round(imports_cached, 3),
            "no bytecode cache": round(imports_uncached, 3),
        },
        "python_startup_s": round(bare, 3),
        "driftgate_commit": _head(),
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def _breakdown(phases: dict[str, float], started: float, ended: float) -> dict[str, float]:
    timed = {
        "imports": phases["imports"],
        "config": phases.get("config", 0.0),
        "git context": phases.get("context", 0.0),
        "store start": phases.get("store start", 0.0),
        "find": phases.get("find", 0.0),
        "wait": phases.get("wait", 0.0),
        "baseline": phases.get("baseline", 0.0),
        "read both experiments": phases.get("read", 0.0),
        "compare": phases.get("compare", 0.0),
        "store stop": phases.get("store stop", 0.0),
        "report (render, write)": phases["report"],
    }
    command = phases["command"]
    in_process = phases["ended at"] - phases["began at"]
    out = {
        "process start (spawn, interpreter)": phases["began at"] - started,
        **timed,
        # git ancestry, argument parsing, progress lines, printing the report
        "the rest, in process": in_process - command - sum(timed.values()),
        "interpreter exit": ended - phases["ended at"],
        "total (wall - command)": ended - started - command,
        # Less sensitive to a busy machine than wall time: CPU seconds of the driftgate
        # process (all its threads, the store's too) outside the command, exit excluded.
        "cpu, in process (outside the command)": phases["cpu"] - phases["command cpu"],
    }
    return {k: round(v, 3) for k, v in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-save", action="store_true", help=f"do not write {RESULTS.name}")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="driftgate-overhead-") as tmp:
        result = measure(args.records, args.repeat, Path(tmp))
    print(
        f"\ndriftgate run --local, {result['records']:,} records x 3 evaluators x 3 runs, "
        f"median of {result['repeat']} (load average {result['load_average'][0]} on "
        f"{result['cpus']} CPUs):\n"
    )
    print("| | seconds |\n|---|---|")
    print(f"| wall time of `driftgate run` | {result['wall_median_s']:.2f} |")
    print(f"| the command (ddtrace script) | {result['command_median_s']:.2f} |")
    verdict = "under" if result["overhead_median_s"] < TARGET_S else "OVER"
    print(
        f"| **gate overhead** | **{result['overhead_median_s']:.2f}** ({verdict} the "
        f"{TARGET_S} s target) |"
    )
    print("\nWhere the overhead goes (one more run, in-process timers):\n")
    print("| phase | seconds |\n|---|---|")
    for phase, seconds in result["breakdown_s"].items():
        print(f"| {phase} | {seconds:.3f} |")
    imports = result["imports_s"]
    print(
        f"\nImports alone, fresh interpreter: {imports['bytecode cached']:.2f} s with a "
        f"bytecode cache, {imports['no bytecode cache']:.2f} s without."
    )
    if not args.no_save:
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
        print(f"\nwritten to {RESULTS.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
