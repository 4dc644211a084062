"""GitHub Actions I/O: every write goes to a temporary file or a StringIO, and what is written
is read back the way the runner reads it."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from driftgate.action.workflow import (
    SUMMARY_LIMIT,
    Commands,
    InputError,
    append_summary,
    escape_data,
    escape_property,
    format_command,
    get_bool_input,
    get_choice_input,
    get_input,
    get_number_input,
    get_secret_input,
    input_variable,
    set_output,
    set_outputs,
    write_output,
)

# ---------------------------------------------------------------------------- the runner's side


def parse_output_file(text: str) -> dict[str, str]:
    """How the runner reads GITHUB_OUTPUT: `name=value` lines and `name<<DELIM` blocks."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    outputs: dict[str, str] = {}
    i = 0
    while i < len(lines):
        line = lines[i]
        eq, heredoc = line.find("="), line.find("<<")
        if eq >= 0 and (heredoc < 0 or eq < heredoc):
            outputs[line[:eq]] = line[eq + 1 :]
            i += 1
            continue
        name, delimiter = line[:heredoc], line[heredoc + 2 :]
        body: list[str] = []
        i += 1
        while lines[i] != delimiter:  # an IndexError here is a malformed file
            body.append(lines[i])
            i += 1
        outputs[name] = "\n".join(body)
        i += 1
    return outputs


def unescape(value: str, *, prop: bool = False) -> str:
    if prop:
        value = value.replace("%3A", ":").replace("%2C", ",")
    return value.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def parse_command(line: str) -> tuple[str, dict[str, str], str]:
    """One workflow command line as the runner splits it: (command, properties, message)."""
    assert line.startswith("::")
    head, _, message = line[2:].partition("::")
    command, _, props = head.partition(" ")
    properties = {}
    for pair in filter(None, props.split(",")):
        key, _, value = pair.partition("=")
        properties[key] = unescape(value, prop=True)
    return command, properties, unescape(message)


# ---------------------------------------------------------------------------- inputs


def test_input_variable_names_keep_hyphens() -> None:
    assert input_variable("fail-on") == "INPUT_FAIL-ON"
    assert input_variable("baseline-experiment-id") == "INPUT_BASELINE-EXPERIMENT-ID"
    assert input_variable("my input") == "INPUT_MY_INPUT"


def test_get_input_reads_hyphenated_names_trimmed() -> None:
    env = {"INPUT_FAIL-ON": "  warning \n", "INPUT_FAIL_ON": "never"}
    assert get_input(env, "fail-on") == "warning"


def test_hyphenated_inputs_survive_a_real_process_environment() -> None:
    # The runner execs the container's entrypoint with such names; so does this.
    code = (
        "import os, sys; from driftgate.action.workflow import get_input; "
        "sys.stdout.write(get_input(os.environ, 'fail-on'))"
    )
    env = {**os.environ, "INPUT_FAIL-ON": "never"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout == "never"


def test_absent_or_empty_inputs() -> None:
    assert get_input({}, "pipeline", default="default") == "default"
    # An explicit empty `with:` value reaches the container as "": same as absent.
    assert get_input({"INPUT_PIPELINE": ""}, "pipeline", default="default") == "default"
    with pytest.raises(InputError, match="Input required and not supplied: command"):
        get_input({"INPUT_COMMAND": "   "}, "command", required=True)


def test_boolean_inputs() -> None:
    for text, value in [("true", True), ("TRUE", True), ("False", False), (" false ", False)]:
        assert get_bool_input({"INPUT_CHECK": text}, "check", default=not value) is value
    assert get_bool_input({}, "check", default=True) is True
    with pytest.raises(InputError) as raised:
        get_bool_input({"INPUT_CHECK": "yes"}, "check", default=True)
    assert str(raised.value) == (
        "Value 'yes' is not supported for input check; expected one of: true, false"
    )


def test_choice_inputs() -> None:
    choices = ("regression", "warning", "never")
    assert get_choice_input({"INPUT_FAIL-ON": "warning"}, "fail-on", choices) == "warning"
    assert get_choice_input({"INPUT_FAIL-ON": "Never"}, "fail-on", choices) == "never"
    assert get_choice_input({}, "fail-on", choices, default="regression") == "regression"
    with pytest.raises(InputError) as raised:
        get_choice_input({"INPUT_FAIL-ON": "x"}, "fail-on", choices, default="regression")
    assert str(raised.value) == (
        "Value 'x' is not supported for input fail-on; expected one of: regression, warning, never"
    )
    with pytest.raises(InputError, match="not supplied: fail-on; expected one of: regression"):
        get_choice_input({}, "fail-on", choices)


def test_number_inputs() -> None:
    assert get_number_input({"INPUT_TIMEOUT-MINUTES": "30"}, "timeout-minutes", default=60) == 30
    assert get_number_input({"INPUT_TIMEOUT-MINUTES": "2.5"}, "timeout-minutes", default=60) == 2.5
    assert get_number_input({}, "timeout-minutes", default=60) == 60
    for bad in ("soon", "nan", "inf"):
        with pytest.raises(InputError, match=f"'{bad}' .* timeout-minutes; expected a number"):
            get_number_input({"INPUT_TIMEOUT-MINUTES": bad}, "timeout-minutes", default=60)
    with pytest.raises(InputError, match="expected at least 0"):
        get_number_input({"INPUT_TIMEOUT-MINUTES": "-1"}, "timeout-minutes", default=60, minimum=0)


def test_secret_inputs_never_print() -> None:
    token = "ghs_0123456789abcdefSECRET"
    secret = get_secret_input({"INPUT_GITHUB-TOKEN": token}, "github-token")
    assert secret is not None and secret.get_secret_value() == token

    class Settings(BaseModel):
        model_config = ConfigDict(frozen=True)
        fail_on: str
        github_token: SecretStr | None = Field(repr=False)

    settings = Settings(fail_on="regression", github_token=secret)
    for shown in (repr(secret), str(secret), repr(settings), str(settings)):
        assert token not in shown
    assert token not in settings.model_dump_json()
    assert get_secret_input({}, "dd-api-key") is None
    with pytest.raises(InputError, match="github-token"):
        get_secret_input({}, "github-token", required=True)


# ---------------------------------------------------------------------------- escaping


def test_escape_data_and_properties() -> None:
    assert escape_data("50% done\r\nnext") == "50%25 done%0D%0Anext"
    assert escape_data("%0A") == "%250A"  # not an escape once written
    assert escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    assert escape_data("a:b,c") == "a:b,c"


def test_format_command() -> None:
    line = format_command("error", "msg", {"file": "src/a,b.py", "line": 3, "title": "T: x"})
    assert line == "::error file=src/a%2Cb.py,line=3,title=T%3A x::msg"
    assert format_command("warning", "careful") == "::warning::careful"
    assert format_command("notice", "n", {"title": None}) == "::notice::n"


def test_hostile_text_stays_in_one_command() -> None:
    message = "done\n::add-mask::x\n::error::fake %0A 100%"
    title = "a::b,c=d"
    stream = io.StringIO()
    Commands(stream).error(message, title=title, file="x.py", line=1)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    command, properties, parsed = parse_command(lines[0])
    assert command == "error"
    assert properties == {"title": title, "file": "x.py", "line": "1"}
    assert parsed == message


# ---------------------------------------------------------------------------- commands


def test_annotations() -> None:
    stream = io.StringIO()
    commands = Commands(stream)
    commands.error("accuracy regressed", title="driftgate", file="evals/run.py", line=4, end_line=9)
    commands.warning("cost up 12%")
    commands.notice("no baseline yet", title="driftgate")
    commands.debug("resolved baseline")
    assert stream.getvalue().splitlines() == [
        "::error title=driftgate,file=evals/run.py,line=4,endLine=9::accuracy regressed",
        "::warning::cost up 12%25",
        "::notice title=driftgate::no baseline yet",
        "::debug::resolved baseline",
    ]


def test_group_closes_even_when_the_body_fails() -> None:
    stream = io.StringIO()
    commands = Commands(stream)
    with commands.group("Run: python evals.py"):
        stream.write("output\n")
    with pytest.raises(RuntimeError), commands.group("second"):
        raise RuntimeError("boom")
    assert stream.getvalue().splitlines() == [
        "::group::Run: python evals.py",
        "output",
        "::endgroup::",
        "::group::second",
        "::endgroup::",
    ]


def test_add_mask() -> None:
    stream = io.StringIO()
    commands = Commands(stream)
    commands.add_mask(SecretStr("ghs_token%1"))
    commands.add_mask("line one\nline two\n")
    commands.add_mask("")
    commands.add_mask(None)
    commands.add_mask(SecretStr("  "))
    parsed = [parse_command(line) for line in stream.getvalue().splitlines()]
    assert parsed == [
        ("add-mask", {}, "ghs_token%1"),
        ("add-mask", {}, "line one\nline two\n"),
        ("add-mask", {}, "line one"),
        ("add-mask", {}, "line two"),
    ]


def test_stop_commands_wraps_untrusted_output() -> None:
    stream = io.StringIO()
    with Commands(stream).stop_commands() as token:
        stream.write("::add-mask::not-really\n")
    lines = stream.getvalue().splitlines()
    assert lines[0] == f"::stop-commands::{token}"
    assert lines[-1] == f"::{token}::"
    assert len(token) == 32
    with Commands(io.StringIO()).stop_commands() as other:
        assert other != token


# ---------------------------------------------------------------------------- outputs


def test_outputs_file_single_and_multi_line(tmp_path: Path) -> None:
    path = tmp_path / "output"
    path.write_text("earlier=kept\n")
    report = "# driftgate\n\n| metric | delta |\n|---|---|\n| accuracy | -4% |\n"
    set_outputs(path, {"verdict": "fail", "experiment-id": "3f0c2a", "report": report})
    set_output(path, "comment-url", "https://github.com/o/r/pull/1#issuecomment-9")
    text = path.read_text()
    assert "verdict=fail\n" in text
    assert "report<<ghadelimiter_" in text
    assert parse_output_file(text) == {
        "earlier": "kept",
        "verdict": "fail",
        "experiment-id": "3f0c2a",
        "report": report,
        "comment-url": "https://github.com/o/r/pull/1#issuecomment-9",
    }


def test_empty_and_equals_values(tmp_path: Path) -> None:
    path = tmp_path / "output"
    set_outputs(path, {"baseline-id": "", "expr": "a=b<<c"})
    assert parse_output_file(path.read_text()) == {"baseline-id": "", "expr": "a=b<<c"}


def test_delimiter_never_occurs_in_the_value() -> None:
    candidates: Iterator[str] = iter(["EOF", "EOF2", "SAFE"])
    value = "line\nEOF\nEOF2 inside\nend"
    stream = io.StringIO()
    write_output(stream, "text", value, delimiter=lambda: next(candidates))
    assert stream.getvalue() == f"text<<SAFE\n{value}\nSAFE\n"
    assert parse_output_file(stream.getvalue()) == {"text": value}


def test_random_delimiters_differ() -> None:
    first, second = io.StringIO(), io.StringIO()
    write_output(first, "a", "x\ny")
    write_output(second, "a", "x\ny")
    assert first.getvalue().splitlines()[0] != second.getvalue().splitlines()[0]


def test_output_names_are_checked() -> None:
    for bad in ("", "a=b", "a<<b", "two\nlines", "-x"):
        with pytest.raises(ValueError, match="not a valid output name"):
            write_output(io.StringIO(), bad, "v")


# ---------------------------------------------------------------------------- summary


def test_summary_appends(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    assert not append_summary(path, "# one\n")
    assert not append_summary(path, "## two\n")
    assert path.read_text() == "# one\n## two\n"


def test_summary_is_cut_at_a_line_within_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    path.write_text("x" * 100 + "\n")
    rows = "".join(f"| record {i} | é → ü |\n" for i in range(200))
    assert append_summary(path, rows, limit=1000, note="See report.json.")
    data = path.read_bytes()
    assert len(data) <= 1000
    text = data.decode("utf-8")  # no character cut in half
    body, _, note = text.partition("\n\n> [!WARNING]\n")
    assert body.startswith("x" * 100 + "\n| record 0 |")
    assert body.endswith(" |") and body.count("\n") > 10  # whole rows only
    assert "The summary was cut here" in note and note.endswith("See report.json.\n")


def test_summary_without_room_for_the_note_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    path.write_text("y" * 990)
    assert append_summary(path, "z" * 100, limit=1000)
    assert path.read_text() == "y" * 990


def test_summary_default_limit_is_one_mebibyte(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    assert SUMMARY_LIMIT == 1024 * 1024
    assert append_summary(path, ("a" * 99 + "\n") * 15_000)  # 1.5 MB
    assert SUMMARY_LIMIT - 1000 < path.stat().st_size <= SUMMARY_LIMIT
