"""`driftgate demo`: the bundled example experiment, recorded into a throwaway embedded store,
then read back and summarised. No network, no account."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import httpx

from driftgate.store.clients import client_env
from driftgate.store.server import BackgroundStore


def bundled_example() -> Path:
    """The capitals example: packaged in the wheel, or beside the sources in a checkout."""
    packaged = resources.files("driftgate") / "_bundled" / "capitals" / "experiment.py"
    if packaged.is_file():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "examples" / "capitals" / "experiment.py"


def run_demo(db: str | None) -> int:
    if importlib.util.find_spec("ddtrace") is None:
        print(
            "driftgate: error: the demo runs a ddtrace script, and ddtrace is not installed; "
            "install it with: pip install 'driftgate[ddtrace]'",
            file=sys.stderr,
        )
        return 2
    example = bundled_example()
    with tempfile.TemporaryDirectory(prefix="driftgate-demo-") as tmp:
        path = db or str(Path(tmp) / "store.db")
        with BackgroundStore(path) as store:
            print(f"embedded store at {store.url} (database {path})", flush=True)
            print(f"running {example.name} (3 runs of the capitals dataset)...", flush=True)
            proc = subprocess.run(
                [sys.executable, str(example)],
                env=client_env(store.url, os.environ),
                check=False,
            )
            if proc.returncode != 0:
                print(
                    f"driftgate: error: the example exited with {proc.returncode}", file=sys.stderr
                )
                return 3
            listed = httpx.get(
                f"{store.url}/api/v2/llm-obs/v1/experiments", params={"page[limit]": "1"}
            ).json()["data"]
        print(_summary(listed[0], path))
        if db:
            print(f"\nbrowse it again with: driftgate serve --db {db}")
    return 0


def _summary(experiment: dict[str, Any], path: str) -> str:
    attrs = experiment["attributes"]
    agg = attrs["aggregate_data"] or {}
    lines = [
        "",
        f"experiment {attrs['name']} ({experiment['id']})",
        f"  status {attrs['status']}, {attrs['run_count']} runs, "
        f"{agg.get('total_spans', 0)} spans, {agg.get('total_errors', 0)} task errors, "
        f"{agg.get('total_tokens', 0)} tokens",
    ]
    for label, stats in ((agg.get("evaluations") or {}).get("custom") or {}).items():
        if stats.get("pass_rate") is not None:
            value = f"pass rate {stats['pass_rate']:.1%}"
        elif stats.get("mean") is not None:
            value = f"mean {stats['mean']:.3f}"
        elif stats.get("mode") is not None:
            value = f"mode {stats['mode']!r}"
        else:
            value = f"{stats['count']} values"
        lines.append(f"  {label:<14} {stats['metric_type']:<12} {value}")
    return "\n".join(lines)
