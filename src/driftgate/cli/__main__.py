"""`python -m driftgate.cli`: the same as the `driftgate` command."""

import sys

from driftgate.cli import main

sys.exit(main())
