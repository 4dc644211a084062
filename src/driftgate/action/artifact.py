"""The artifact a read-only run (a fork's pull request) leaves for `driftgate publish`: the
report (`report.json`, `GateResult`'s own JSON) and where it belongs (`meta.json`).

Written by the gate; read by the publish step, which trusts none of it. Whoever opened the
pull request controls its workflow run, so the artifact may be anything: it is read as
hostile input, from a folder (`read_artifact`) or from the zip GitHub serves
(`read_artifact_zip`), within limits, and each breach is an `ArtifactError` (exit 2) with
one line that says what is wrong, never a traceback:

- only regular files, opened without following symlinks (`O_NOFOLLOW`, and the folder
  itself with `O_DIRECTORY`): no symlink, device, FIFO or sub-folder;
- only the expected names (`report.json`, `meta.json`); in a zip, no `..`, absolute or
  backslashed path, no symlink entry, no duplicate, no encryption;
- sizes: `MAX_TOTAL` for the whole (the folder's files, the zip as downloaded and what it
  holds), `MAX_REPORT` for report.json, `MAX_META` for meta.json; a zip entry's declared
  size is checked before it is inflated and its actual size while it is (a bomb that lies
  about its size is cut at the limit, and its CRC fails);
- JSON nested at most `MAX_DEPTH` deep (checked before parsing, so 100,000 `[` cannot
  exhaust the parser), an object at the top, UTF-8, then validated field by field.
"""

from __future__ import annotations

import errno
import io
import json
import os
import re
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from driftgate.errors import UsageError
from driftgate.result import GateResult
from driftgate.verdict import PIPELINE, CommentMode, FailOn, NoBaseline

REPORT = "report.json"
META = "meta.json"
NAMES = (REPORT, META)

MB = 1024 * 1024
MAX_TOTAL = 20 * MB
MAX_REPORT = 10 * MB
MAX_META = 64 * 1024
MAX_DEPTH = 64
_LIMITS = {REPORT: MAX_REPORT, META: MAX_META}


class ArtifactError(UsageError):
    """The artifact holds no driftgate report, or not one within the limits."""


class ArtifactMeta(BaseModel):
    """What a read-only run leaves beside its report. `publish` checks `pr_number`,
    `head_sha` and `pipeline` against what it knows, and reads nothing else of it: the
    policy fields say what the pull request's run used, never what publishing uses."""

    model_config = ConfigDict(extra="ignore")

    schema_version: int = 1
    repository: str | None
    pr_number: int = Field(ge=1)
    head_sha: str = Field(pattern=r"^[0-9a-fA-F]{40,64}$")
    pipeline: str = Field(pattern=f"^{PIPELINE.pattern}$")
    comment: CommentMode = "always"
    check: bool = True
    fail_on: FailOn = "regression"
    no_baseline: NoBaseline = "neutral"
    backend: str = Field(default="the pull request's run", max_length=80)


@dataclass(frozen=True)
class Artifact:
    meta: ArtifactMeta
    result: GateResult


def write_artifact(folder: Path, result: GateResult, meta: ArtifactMeta | None) -> None:
    """The report, and its meta when the run is for a pull request."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / REPORT).write_text(result.to_json())
    if meta is not None:
        (folder / META).write_text(meta.model_dump_json(indent=2) + "\n")


# ---------------------------------------------------------------------------- reading


def _size(n: int) -> str:
    return f"{n / MB:.1f} MB" if n >= MB else f"{n:,} bytes"


def _too_large(what: str, size: int | None, limit: int) -> ArtifactError:
    told = f" ({_size(size)})" if size is not None else ""
    return ArtifactError(f"{what} is too large{told}: the limit is {_size(limit)}")


def _shown_name(name: str) -> str:
    """A file name from the artifact, safe for one log line."""
    return json.dumps(" ".join(name.split())[:80])


def _unexpected(name: str, where: str) -> ArtifactError:
    return ArtifactError(
        f"{where} holds {_shown_name(name)}: a driftgate artifact holds only "
        f"{' and '.join(NAMES)}; refusing it"
    )


def _symlink(name: str, shown: str) -> ArtifactError:
    return ArtifactError(
        f"{name} in {shown} is a symlink: the artifact must hold regular files; refusing to "
        "follow it"
    )


def _irregular(name: str, shown: str) -> ArtifactError:
    return ArtifactError(f"{name} in {shown} is not a regular file: refusing to read it")


def read_artifact(folder: Path, shown: str) -> Artifact:
    """The artifact in `folder` (`shown`: how the user named it)."""
    try:
        directory = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise ArtifactError(
            f"no driftgate artifact in {shown} (the folder does not exist): download the "
            "pull request run's artifact there first, or use the Action's `mode: publish`, "
            "which downloads it"
        ) from None
    except OSError as exc:
        if exc.errno in (errno.ENOTDIR, errno.ELOOP):
            raise ArtifactError(
                f"{shown} is not a folder (a symlink or a file): refusing to read it"
            ) from None
        raise ArtifactError(f"cannot read {shown}: {exc.strerror}") from None
    try:
        files = _read_folder(directory, shown)
    finally:
        os.close(directory)
    return _parse(files, shown)


def _read_folder(directory: int, shown: str) -> dict[str, bytes]:
    with os.scandir(directory) as entries:
        found = sorted(
            (entry.name, entry.is_symlink(), entry.is_file(follow_symlinks=False))
            for entry in entries
        )
    for name, link, regular in found:
        if name not in NAMES:
            raise _unexpected(name, shown)
        if link:
            raise _symlink(name, shown)
        if not regular:
            raise _irregular(name, shown)
    names = [name for name, _, _ in found]
    files: dict[str, bytes] = {}
    total = 0
    for name in names:
        files[name] = _read_file(directory, name, shown)
        total += len(files[name])
        if total > MAX_TOTAL:
            raise _too_large(f"the artifact in {shown}", total, MAX_TOTAL)
    return files


def _read_file(directory: int, name: str, shown: str) -> bytes:
    """`name` in the open folder: a regular file, not followed if a symlink, read no further
    than its limit."""
    limit = _LIMITS[name]
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=directory)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _symlink(name, shown) from None
        raise ArtifactError(f"cannot read {name} in {shown}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise _irregular(name, shown)
        if info.st_size > limit:
            raise _too_large(f"{name} in {shown}", info.st_size, limit)
        data = file.read(limit + 1)
    if len(data) > limit:
        raise _too_large(f"{name} in {shown}", None, limit)
    return data


def read_artifact_zip(data: bytes, shown: str) -> Artifact:
    """The artifact from the zip GitHub serves for it (`shown`: how to name it)."""
    if len(data) > MAX_TOTAL:
        raise _too_large(shown, len(data), MAX_TOTAL)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            files = _read_zip(archive, shown)
    except zipfile.BadZipFile as exc:
        raise ArtifactError(f"{shown} is not a valid zip file: {_one_line(str(exc))}") from None
    except (EOFError, OSError, ValueError, NotImplementedError, RuntimeError) as exc:
        raise ArtifactError(f"{shown} cannot be unpacked: {_one_line(str(exc))}") from None
    return _parse(files, shown)


def _read_zip(archive: zipfile.ZipFile, shown: str) -> dict[str, bytes]:
    entries = archive.infolist()
    declared = 0
    for entry in entries:
        _check_entry(entry, shown)
        declared += entry.file_size
    if len({e.filename for e in entries}) != len(entries):
        raise ArtifactError(f"{shown} holds the same file twice: refusing it")
    if declared > MAX_TOTAL:
        raise _too_large(f"what {shown} holds", declared, MAX_TOTAL)
    files: dict[str, bytes] = {}
    for entry in entries:
        limit = _LIMITS[entry.filename]
        with archive.open(entry) as member:
            content = member.read(limit + 1)
        if len(content) > limit:
            raise _too_large(f"{entry.filename} in {shown}", None, limit)
        files[entry.filename] = content
    return files


def _check_entry(entry: zipfile.ZipInfo, shown: str) -> None:
    name = entry.filename
    parts = PurePosixPath(name).parts
    if "\\" in name or name.startswith("/") or ".." in parts or entry.is_dir():
        raise ArtifactError(
            f"{shown} holds the path {_shown_name(name)}: only files at the top "
            f"({' and '.join(NAMES)}); refusing it"
        )
    kind = stat.S_IFMT(entry.external_attr >> 16)
    if kind and kind != stat.S_IFREG:
        what = "a symlink" if kind == stat.S_IFLNK else "not a regular file"
        raise ArtifactError(f"{_shown_name(name)} in {shown} is {what}: refusing it")
    if name not in NAMES:
        raise _unexpected(name, shown)
    if entry.flag_bits & 0x1:
        raise ArtifactError(f"{name} in {shown} is encrypted: refusing it")
    if entry.file_size > _LIMITS[name]:
        raise _too_large(f"{name} in {shown}", entry.file_size, _LIMITS[name])


# ---------------------------------------------------------------------------- parsing

# A string (unrolled, so that long strings are one fast match) or a bracket.
_JSON_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)


def json_depth(data: bytes) -> int:
    """How deep `data`'s arrays and objects nest, without parsing it (strings skipped)."""
    depth = deepest = 0
    for token in _JSON_TOKEN.finditer(data):
        char = token[0][:1]
        if char in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        elif char in (b"]", b"}"):
            depth -= 1
    return deepest


def _json(data: bytes, name: str, shown: str) -> dict[str, Any]:
    where = f"{name} in {shown}"
    if json_depth(data) > MAX_DEPTH:
        raise ArtifactError(f"{where} nests deeper than {MAX_DEPTH} levels: refusing it")
    try:
        value = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ArtifactError(f"{where} is not UTF-8 text") from None
    except (ValueError, RecursionError) as exc:
        raise ArtifactError(f"{where} is not valid JSON: {_one_line(str(exc))}") from None
    if not isinstance(value, dict):
        raise ArtifactError(
            f"{where} holds a JSON {type(value).__name__.replace('dict', 'object')}, not a "
            "driftgate report (an object)"
        )
    return value


def _one_line(text: str, limit: int = 200) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors()
    first = errors[0]
    loc = ".".join(str(part) for part in first["loc"]) or "(top)"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return _one_line(f"{loc}: {first['msg']}{more}")


def _parse(files: dict[str, bytes], shown: str) -> Artifact:
    for name in NAMES:
        if name not in files:
            raise ArtifactError(
                f"no driftgate artifact in {shown} ({name} is missing): it must hold "
                f"{' and '.join(NAMES)}, as the gate leaves them"
            )
    meta_data = _json(files[META], META, shown)
    report_data = _json(files[REPORT], REPORT, shown)
    try:
        meta = ArtifactMeta.model_validate(meta_data)
    except ValidationError as exc:
        raise ArtifactError(f"{META} in {shown} is not valid: {_first_error(exc)}") from None
    try:
        result = GateResult.model_validate(report_data)
    except ValidationError as exc:
        raise ArtifactError(
            f"{REPORT} in {shown} is not a driftgate report: {_first_error(exc)}"
        ) from None
    except (ValueError, TypeError, RecursionError) as exc:
        raise ArtifactError(
            f"{REPORT} in {shown} is not a driftgate report: {_one_line(str(exc))}"
        ) from None
    return Artifact(meta, result)
