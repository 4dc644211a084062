"""`python -m driftgate.cli`: the same as the `driftgate` command."""

from driftgate.cli import entry

entry()
