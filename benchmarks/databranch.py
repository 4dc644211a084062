"""Reading and writing the data branch (driftgate.ci.databranch) against a local bare remote.

Builds a bare remote with a `main` branch and a `driftgate-data` branch that holds `--runs`
files of about `--mb` MB each under `runs/capitals/` (JSON lines shaped like a compact record
of a run: one line per record and run, random figures, a short output), written through
`DataBranch.write` with `keep_newest(--runs)` after `--history` earlier runs, so the branch's
history is longer than its tree. Then, `--repeat` times each:

- read, shallow: a fresh `git clone --depth 1` of `main` (actions/checkout's default), then
  `DataBranch.read()`: the fetch of the branch's tip and the read of its files;
- read, complete: the same from a complete clone, whose first read fetches the branch's
  whole history (a depth-limited fetch would make the clone shallow), then a second read;
- write: one run's file added to the branch from a fresh shallow clone, no other writer;
- write with a conflict: two writers from two fresh clones, held together by the remote's
  pre-receive hook so that both build on the same tip; the one overtaken fetches the new
  tip, rebuilds and pushes again. Its time and attempts are the figures.

    uv run python benchmarks/databranch.py                  # 5 runs x 1 MB, 20 earlier runs
    uv run python benchmarks/databranch.py --repeat 3 --no-save

The local remote leaves out the network: on GitHub add a round trip per fetch and push, and
the transfer (about a third of the files' size, compressed).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from driftgate.ci.databranch import Backoff, DataBranch, Retention, WriteOutcome, keep_newest

HERE = Path(__file__).parent
RESULTS = HERE / "results" / "databranch.json"


def git(cwd: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def run_file(rng: random.Random, run: int, mb: float) -> bytes:
    """About `mb` MB of JSON lines, one per record and run, as a compact history holds them."""
    lines = []
    size = 0
    record = 0
    while size < mb * 1_000_000:
        line = json.dumps(
            {
                "record": f"{record:032x}",
                "run": record % 3,
                "commit": f"{run:040x}",
                "metrics": {
                    "exact_match": rng.random() < 0.7,
                    "similarity": round(rng.random(), 4),
                    "judge": rng.choice(["correct", "partial", "wrong"]),
                },
                "tokens": rng.randint(20, 400),
                "cost": round(rng.random() / 1000, 7),
                "latency_s": round(rng.lognormvariate(-1, 0.5), 4),
                "output": "".join(rng.choice("abcdefghij klmnop") for _ in range(500)),
            },
            separators=(",", ":"),
        )
        lines.append(line)
        size += len(line) + 1
        record += 1
    return ("\n".join(lines) + "\n").encode()


def seconds(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    out = fn()
    return time.perf_counter() - started, out


def summary(values: list[float]) -> dict[str, float]:
    return {
        "median_s": round(statistics.median(values), 3),
        "min_s": round(min(values), 3),
        "max_s": round(max(values), 3),
    }


def race(
    pair: list[DataBranch], files: list[tuple[str, bytes]], keep: Retention
) -> list[tuple[float, WriteOutcome]]:
    """Both writers at once, each its file; (seconds, outcome) of each."""
    results: list[tuple[float, WriteOutcome]] = [(0.0, WriteOutcome("failed"))] * len(pair)

    def write(i: int) -> None:
        path, data = files[i]
        results[i] = seconds(
            lambda: pair[i].write(
                {path: data}, retention=keep, backoff=Backoff(first_s=0.1, max_s=1.0)
            )
        )

    threads = [threading.Thread(target=write, args=(i,)) for i in range(len(pair))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="files on the branch")
    parser.add_argument("--mb", type=float, default=1.0, help="size of each file, in MB")
    parser.add_argument("--history", type=int, default=20, help="earlier runs, now retired")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-save", action="store_true", help=f"do not write {RESULTS.name}")
    args = parser.parse_args()

    rng = random.Random(7)
    root = Path(tempfile.mkdtemp(prefix="driftgate-databranch-bench-"))
    # No user or system config: the figures are git's and driftgate's, not a setup's.
    (root / "gitconfig").write_text("")
    os.environ.update(
        GIT_CONFIG_GLOBAL=str(root / "gitconfig"),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="bench",
        GIT_AUTHOR_EMAIL="bench@example.invalid",
        GIT_COMMITTER_NAME="bench",
        GIT_COMMITTER_EMAIL="bench@example.invalid",
    )
    clones = iter(range(1_000_000))
    try:
        seed = root / "seed"
        seed.mkdir()
        git(seed, "init", "-q", "-b", "main")
        (seed / "README.md").write_text("bench\n")
        git(seed, "add", "README.md")
        git(seed, "commit", "-q", "-m", "main")
        remote = root / "remote.git"
        git(root, "clone", "-q", "--bare", str(seed), str(remote))
        url = remote.as_uri()

        def clone(depth: int | None = 1) -> Path:
            # --single-branch: a checkout made before the data branch existed, or by
            # actions/checkout, which fetches only the commit it checks out.
            into = root / f"clone-{next(clones)}"
            extra = ["--depth", str(depth)] if depth else ["--single-branch"]
            git(root, "clone", "-q", "--branch", "main", *extra, url, str(into))
            return into

        fixture_started = time.perf_counter()
        writer = DataBranch(clone())
        keep = keep_newest(args.runs)
        for run in range(args.history + args.runs):
            data = run_file(rng, run, args.mb)
            out = writer.write({f"runs/capitals/{run:06d}.jsonl": data}, retention=keep)
            assert out.ok, out.notes
        fixture_s = time.perf_counter() - fixture_started
        tree_mb = sum(
            int(line.split()[3])
            for line in git(remote, "ls-tree", "-r", "-l", "driftgate-data").splitlines()
        )
        packed = git(remote, "count-objects", "-v")
        print(
            f"fixture: {args.runs} files of {args.mb:g} MB on the branch after "
            f"{args.history + args.runs} runs ({fixture_s:.1f} s); tree {tree_mb / 1e6:.1f} MB; "
            + ", ".join(line for line in packed.splitlines() if "size" in line)
        )

        def read(branch: DataBranch) -> float:
            t, out = seconds(branch.read)
            assert out.ok, out.notes
            assert len(out.files) == args.runs, out.notes
            return t

        # As pushed, a local remote keeps small pushes' objects loose (receive.unpackLimit),
        # and every fetch packs them again; a hosted remote keeps packs.
        loose_reads = [read(DataBranch(clone())) for _ in range(args.repeat)]
        git(remote, "gc", "-q")
        shallow_reads, complete_first, complete_again = [], [], []
        for _ in range(args.repeat):
            shallow_reads.append(read(DataBranch(clone())))
            full = DataBranch(clone(depth=None))
            complete_first.append(read(full))
            complete_again.append(read(full))
        print(f"read, shallow, loose remote:   {summary(loose_reads)}")
        print(f"read, shallow:                 {summary(shallow_reads)}")
        print(f"read, complete, history:       {summary(complete_first)}")
        print(f"read, complete, again:         {summary(complete_again)}")

        writes, conflicted, attempts = [], [], []
        serial = args.history + args.runs
        for _ in range(args.repeat):
            branch = DataBranch(clone())
            data = run_file(rng, serial, args.mb)
            started = time.perf_counter()
            out = branch.write({f"runs/capitals/{serial:06d}.jsonl": data}, retention=keep)
            t = time.perf_counter() - started
            assert out.ok, out.notes
            assert out.attempts == 1, out.notes
            writes.append(t)
            serial += 1

            hook = remote / "hooks" / "pre-receive"
            arrived = Path(tempfile.mkdtemp(dir=root))
            hook.write_text(
                f"#!/bin/sh\ncat >/dev/null\ntouch {arrived}/$$\ni=0\n"
                f'while [ "$(ls {arrived} | wc -l)" -lt 2 ] && [ $i -lt 200 ]; do '
                "sleep 0.01; i=$((i+1)); done\n"
            )
            hook.chmod(0o755)
            pair = [DataBranch(clone()), DataBranch(clone())]
            payloads = {
                f"runs/capitals/{serial + i:06d}.jsonl": run_file(rng, serial, args.mb)
                for i in range(2)
            }
            results = race(pair, list(payloads.items()), keep)
            hook.unlink()
            serial += 2
            assert all(out.ok for _, out in results), results
            slow_t, slow = max(results, key=lambda r: r[1].attempts)
            assert slow.attempts == 2, [out.attempts for _, out in results]
            conflicted.append(slow_t)
            attempts.append(slow.attempts)
        print(f"write, alone:                  {summary(writes)}")
        print(f"write, one conflict:           {summary(conflicted)} (attempts {attempts})")

        result = {
            "runs": args.runs,
            "mb_per_file": args.mb,
            "earlier_runs": args.history,
            "repeat": args.repeat,
            "read_shallow_loose_remote": summary(loose_reads),
            "read_shallow": summary(shallow_reads),
            "read_complete_first": summary(complete_first),
            "read_complete_again": summary(complete_again),
            "write_alone": summary(writes),
            "write_one_conflict": summary(conflicted),
            "conflict_attempts": attempts,
            "fixture_s": round(fixture_s, 1),
            "git": git(root, "--version"),
            "python": sys.version.split()[0],
            "cpus": os.cpu_count(),
            "load_average": [round(x, 2) for x in os.getloadavg()],
        }
        if not args.no_save:
            RESULTS.parent.mkdir(exist_ok=True)
            RESULTS.write_text(json.dumps(result, indent=2) + "\n")
            print(f"\nwritten to {RESULTS.relative_to(HERE.parent)}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
