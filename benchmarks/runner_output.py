"""Peak memory of driftgate while the user's command prints without line breaks.

    uv run python benchmarks/runner_output.py              # 512 MB of 'x', no line break
    uv run python benchmarks/runner_output.py --mb 64 1024 # against size

Each size runs in a fresh interpreter (`run_command` on `head -c N /dev/zero | tr '\\0' x`)
that reports its own peak resident memory (VmHWM in /proc/self/status: ru_maxrss would
carry the forking parent's peak across exec), the characters echoed and the tail's length.
Linux only. Before the output was read in bounded chunks, 512 MB took 1.56 GB.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

PROBE = """
import os, sys
from pathlib import Path
from driftgate.ci.runner import run_command
seen = [0]
def echo(line):
    seen[0] += len(line)
result = run_command(sys.argv[1], cwd=Path.cwd(), env=dict(os.environ), timeout_s=600, echo=echo)
assert result.ok, result
peak_kb = Path("/proc/self/status").read_text().split("VmHWM:")[1].split()[0]
print(int(peak_kb) // 1024, seen[0], len(result.tail))
"""

BASELINE = """
from pathlib import Path
import driftgate.ci.runner
peak_kb = Path("/proc/self/status").read_text().split("VmHWM:")[1].split()[0]
print(int(peak_kb) // 1024)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, nargs="+", default=[512])
    args = parser.parse_args()
    base = subprocess.run(
        [sys.executable, "-c", BASELINE], capture_output=True, text=True, check=True
    )
    print(f"after imports alone: {base.stdout.strip()} MB peak")
    for mb in args.mb:
        command = f"head -c {mb * 1024 * 1024} /dev/zero | tr '\\0' x"
        clock = time.monotonic()
        out = subprocess.run(
            [sys.executable, "-c", PROBE, command], capture_output=True, text=True, check=True
        )
        took = time.monotonic() - clock
        peak, echoed, tail = out.stdout.split()
        print(
            f"{mb:>6} MB without a line break: peak {peak} MB, {took:.1f} s, "
            f"{echoed} characters echoed, tail {tail} characters"
        )


if __name__ == "__main__":
    main()
