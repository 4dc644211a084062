"""The two kinds of failure a user can meet, each with its exit code. Every error the gate
raises for a user to act on is one of them, and its message says what to change: the entry
points print the message, never a traceback, and exit with the code.

- `UsageError` (exit 2): a mistake of the user's: an argument, an input, the configuration
  file, the CI context, git, an experiment reference.
- `BackendError` (exit 3): the experiments backend (Datadog or the store) could not answer
  usefully.
"""

from __future__ import annotations

EXIT_USAGE, EXIT_BACKEND = 2, 3


class DriftgateError(Exception):
    exit_code: int = 1


class UsageError(DriftgateError):
    """A mistake of the user's; the message says what to change (exit 2)."""

    exit_code = EXIT_USAGE


class BackendError(DriftgateError):
    """The backend could not answer usefully; the message says what to do (exit 3)."""

    exit_code = EXIT_BACKEND
