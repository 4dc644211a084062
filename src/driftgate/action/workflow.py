"""GitHub Actions I/O: inputs, outputs, the step summary, workflow commands, the session's
log as workflow commands, and handing the workspace back to its owner. No decisions.

Everything written goes to a path or a stream the caller passes (`GITHUB_OUTPUT`,
`GITHUB_STEP_SUMMARY`, stdout in production; temporary files in tests), and inputs are read
from an environment mapping, so nothing here reads globals.
"""

from __future__ import annotations

import math
import os
import re
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO, TypedDict, TypeVar, Unpack, cast

from pydantic import SecretStr

from driftgate.errors import UsageError
from driftgate.report.limits import SUMMARY_LIMIT, UTF8, fit_block

C = TypeVar("C", bound=str)

_OUTPUT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


class InputError(UsageError, ValueError):
    """An action input is missing or has a value we do not accept; the message names the
    input and what it may be."""


# ---------------------------------------------------------------------------- inputs


def input_variable(name: str) -> str:
    """The variable the runner puts an input in: upper-cased, spaces to `_`, hyphens kept
    (`fail-on` -> `INPUT_FAIL-ON`)."""
    return "INPUT_" + name.replace(" ", "_").upper()


def get_input(
    env: Mapping[str, str], name: str, *, required: bool = False, default: str = ""
) -> str:
    """The input's value, trimmed. Absent and empty are the same: the runner passes an
    explicit `""` through, and no input of ours means anything by it."""
    value = env.get(input_variable(name), "").strip()
    if value:
        return value
    if required and not default:
        raise InputError(
            f"Input required and not supplied: {name} (set it under `with:` in the workflow)"
        )
    return default


def _not_supported(name: str, value: str, allowed: Sequence[str]) -> InputError:
    return InputError(
        f"Value '{value}' is not supported for input {name}; expected one of: {', '.join(allowed)}"
    )


def get_bool_input(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    """`true` or `false` (any case, as YAML writes them)."""
    value = get_input(env, name)
    if not value:
        return default
    if value.lower() == "true":
        return True
    if value.lower() == "false":
        return False
    raise _not_supported(name, value, ("true", "false"))


def get_choice_input(
    env: Mapping[str, str], name: str, choices: Sequence[C], *, default: C | None = None
) -> C:
    """One of `choices` (compared without case, returned as spelled in `choices`)."""
    value = get_input(env, name)
    if not value:
        if default is None:
            raise InputError(
                f"Input required and not supplied: {name}; expected one of: {', '.join(choices)}"
            )
        return default
    for choice in choices:
        if value.lower() == choice.lower():
            return choice
    raise _not_supported(name, value, choices)


def get_number_input(
    env: Mapping[str, str], name: str, *, default: float, minimum: float | None = None
) -> float:
    """A number (`30`, `2.5`), at least `minimum` when given."""
    value = get_input(env, name)
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not math.isfinite(number):
        raise InputError(f"Value '{value}' is not supported for input {name}; expected a number")
    if minimum is not None and number < minimum:
        raise InputError(
            f"Value '{value}' is not supported for input {name}; expected at least {minimum:g}"
        )
    return number


def get_secret_input(
    env: Mapping[str, str], name: str, *, required: bool = False
) -> SecretStr | None:
    """A token or key, wrapped so that no repr, log line or error message prints it. Mask it
    too (`Commands.add_mask`): it may reach the log through the user's command."""
    value = get_input(env, name, required=required)
    return SecretStr(value) if value else None


# ---------------------------------------------------------------------------- escaping


def escape_data(value: str) -> str:
    """A workflow command's message: `%`, CR and LF escaped, `%` first."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    """A workflow command's property value: as data, plus `:` and `,`, which end it."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def format_command(
    command: str, message: str = "", properties: Mapping[str, str | int | None] | None = None
) -> str:
    """`::command key=value,...::message`, escaped; properties that are None are left out."""
    props = ",".join(
        f"{key}={escape_property(str(value))}"
        for key, value in (properties or {}).items()
        if value is not None
    )
    head = f"::{command} {props}" if props else f"::{command}"
    return f"{head}::{escape_data(message)}"


# ---------------------------------------------------------------------------- commands


class Where(TypedDict, total=False):
    """An annotation's title and place in a file."""

    title: str
    file: str
    line: int
    end_line: int
    col: int
    end_column: int


# The runner's spelling of the properties whose Python names differ.
_PROPERTY = {"end_line": "endLine", "end_column": "endColumn"}


class Commands:
    """Workflow commands, written to `stream` (the step's stdout)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def issue(
        self,
        command: str,
        message: str = "",
        properties: Mapping[str, str | int | None] | None = None,
    ) -> None:
        self._stream.write(format_command(command, message, properties) + "\n")
        self._stream.flush()

    def _annotation(self, level: str, message: str, where: Where) -> None:
        # In the runner's documented order, whatever order the caller named them in.
        given = cast("dict[str, str | int]", where)
        properties = {_PROPERTY.get(k, k): given[k] for k in Where.__annotations__ if k in given}
        self.issue(level, message, properties)

    def error(self, message: str, **where: Unpack[Where]) -> None:
        """An error annotation (at most 10 per step are shown)."""
        self._annotation("error", message, where)

    def warning(self, message: str, **where: Unpack[Where]) -> None:
        self._annotation("warning", message, where)

    def notice(self, message: str, **where: Unpack[Where]) -> None:
        self._annotation("notice", message, where)

    def debug(self, message: str) -> None:
        self.issue("debug", message)

    @contextmanager
    def group(self, title: str) -> Iterator[None]:
        """A collapsible log group, closed even when the body raises."""
        self.issue("group", title)
        try:
            yield
        finally:
            self.issue("endgroup")

    def add_mask(self, value: str | SecretStr | None) -> None:
        """Have the runner print `***` for `value` from now on. Each line of a multi-line
        secret is masked on its own as well, since log lines are masked one at a time."""
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if not text or not text.strip():
            return
        self.issue("add-mask", text)
        lines = [part.strip() for part in text.splitlines()]
        if len(lines) > 1:
            for part in lines:
                if part:
                    self.issue("add-mask", part)

    @contextmanager
    def stop_commands(self) -> Iterator[str]:
        """Ignore workflow commands in the log until the block ends: for echoing text we do
        not control (the user's command's output), which could otherwise set outputs or masks.
        Yields the random token that resumes them."""
        token = secrets.token_hex(16)
        self.issue("stop-commands", token)
        try:
            yield token
        finally:
            self._stream.write(f"::{token}::\n")
            self._stream.flush()


# ---------------------------------------------------------------------------- outputs


def _random_delimiter() -> str:
    return f"ghadelimiter_{secrets.token_hex(16)}"


def write_output(
    stream: TextIO,
    name: str,
    value: str,
    *,
    delimiter: Callable[[], str] = _random_delimiter,
) -> None:
    """One output in the `GITHUB_OUTPUT` format: `name=value`, or for multi-line values
    `name<<DELIM`, the value, `DELIM`, with a delimiter that does not occur in the value."""
    if not _OUTPUT_NAME.match(name):
        raise ValueError(f"{name!r} is not a valid output name")
    if "\n" not in value and "\r" not in value:
        stream.write(f"{name}={value}\n")
        return
    delim = delimiter()
    while delim in value:
        delim = delimiter()
    stream.write(f"{name}<<{delim}\n{value}\n{delim}\n")


def set_outputs(path: str | Path, outputs: Mapping[str, str]) -> None:
    """Append `outputs` to the file `GITHUB_OUTPUT` names."""
    with Path(path).open("a", encoding="utf-8", newline="") as stream:
        for name, value in outputs.items():
            write_output(stream, name, value)


def set_output(path: str | Path, name: str, value: str) -> None:
    set_outputs(path, {name: value})


# ---------------------------------------------------------------------------- summary

TRUNCATION_NOTE = "The rest is in the report files."


def append_summary(
    path: str | Path,
    markdown: str,
    *,
    limit: int = SUMMARY_LIMIT,
    note: str = TRUNCATION_NOTE,
) -> bool:
    """Append `markdown` to the step summary file, within `limit` bytes for the whole file
    (what earlier writes of the step left counts). Returns whether it had to be cut; a cut
    summary ends with a line that says so, followed by `note`."""
    target = Path(path)
    used = target.stat().st_size if target.exists() else 0
    room = limit - used
    marker = (
        f"\n\n> [!WARNING]\n> The summary was cut here: GitHub keeps at most {limit:,} "
        f"bytes of summary per step. {note}\n"
    )
    text, cut = fit_block(markdown, room, marker, UTF8)
    if cut and room < UTF8.length(marker):
        # When not even the note fits, writing anything would make GitHub drop the summary.
        text = ""
    with target.open("a", encoding="utf-8", newline="") as stream:
        stream.write(text)
    return cut


# ---------------------------------------------------------------------------- the session's log


class WorkflowLog:
    """A gate session's log (`session.Log`) as workflow commands: notices and errors become
    annotations, and the output of the user's commands is folded into a group in which
    workflow commands are ignored (it is text we do not control)."""

    def __init__(self, stdout: TextIO, cmds: Commands) -> None:
        self._stdout, self._cmds = stdout, cmds

    def line(self, text: str) -> None:
        self._stdout.write(text + "\n")
        self._stdout.flush()

    def progress(self, message: str) -> None:
        self.line(f"driftgate: {message}")

    def notice(self, message: str) -> None:
        self._cmds.notice(message)

    def error(self, message: str, title: str) -> None:
        self._cmds.error(message, title=title)

    @contextmanager
    def section(self, title: str) -> Iterator[None]:
        with self._cmds.group(title), self._cmds.stop_commands():
            yield


# ---------------------------------------------------------------------------- the workspace


def hand_back(workspace: Path) -> None:
    """The container runs as root, and so does the user's command: give what was created in
    the workspace (our store and reports, the script's own files) to the workspace's owner,
    so that later steps (actions/cache, the next checkout's clean) can manage it."""
    if os.geteuid() != 0:
        return
    try:
        owner = workspace.stat()
    except OSError:
        return
    if owner.st_uid == 0:
        return
    for folder, dirs, files in os.walk(workspace):
        for name in (*dirs, *files):
            path = os.path.join(folder, name)
            try:
                if os.lstat(path).st_uid == 0:
                    os.chown(path, owner.st_uid, owner.st_gid, follow_symlinks=False)
            except OSError:
                continue
