"""What a pooled baseline says among a report's warnings, from its `History` alone. Pure,
and light (no numpy): `compare_pooled` writes these warnings, and the report's surfaces,
which show the history in a section of its own, leave them out of their flags."""

from __future__ import annotations

from driftgate.compare.schema import History

__all__ = ["history_flags"]


def history_flags(history: History) -> list[str]:
    """The warnings `compare_pooled` adds for `history`, in its order."""
    newest = next((run.id for run in history.runs if run.pooled), "")
    flags = [
        f"baseline: {history.pooled} base-branch runs pooled ({history.observations} "
        f"iterations per record at most), newest {newest}"
        if history.pooled > 1
        else f"baseline: one base-branch run ({newest}), none of the older pooled"
    ]
    if history.change_point:
        flags.append(history.change_point)
    if history.flaky_count:
        flags.append(
            f"{history.flaky_count} record(s) are known-flaky (their outcome varied between the "
            f"pooled base runs), {history.regressed_flaky} of them among the regressed"
        )
    if history.flaky_only:
        flags.append(
            "regressions made only of known-flaky records: " + ", ".join(history.flaky_only)
        )
    if history.unconfirmed:
        flags.append(
            "the pooled baseline alone would have judged these changed, but the newest base "
            "run does not confirm it: " + ", ".join(history.unconfirmed)
        )
    return flags
