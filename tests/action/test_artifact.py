"""The fork artifact read as hostile input: folders and zips, within limits, each breach a
one-line `ArtifactError`, never a traceback, never a followed symlink."""

from __future__ import annotations

import io
import json
import os
import stat
import struct
import zipfile
from pathlib import Path

import pytest

from driftgate.action.artifact import (
    MAX_DEPTH,
    MAX_REPORT,
    ArtifactError,
    json_depth,
    read_artifact,
    read_artifact_zip,
    write_artifact,
)
from driftgate.result import GateResult

HEAD = "ab" * 20
META = {"repository": "acme/bot", "pr_number": 9, "head_sha": HEAD, "pipeline": "qa"}
REPORT = {"experiments": [], "notes": ["hello"]}


def _files() -> dict[str, bytes]:
    return {"report.json": json.dumps(REPORT).encode(), "meta.json": json.dumps(META).encode()}


def _folder(tmp_path: Path, files: dict[str, bytes] | None = None) -> Path:
    folder = tmp_path / "artifact"
    folder.mkdir()
    for name, data in (files or _files()).items():
        (folder / name).write_bytes(data)
    return folder


def _zip(entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for info, data in entries:
            archive.writestr(info, data)
    return buffer.getvalue()


def _refused(call: object, *args: object) -> str:
    with pytest.raises(ArtifactError) as caught:
        call(*args)  # type: ignore[operator]
    message = str(caught.value)
    assert "\n" not in message and len(message) < 400
    return message


def test_what_the_gate_writes_is_read_back(tmp_path: Path) -> None:
    result = GateResult(notes=["hello"])
    from driftgate.action.artifact import ArtifactMeta

    write_artifact(tmp_path / "a", result, ArtifactMeta.model_validate(META))
    artifact = read_artifact(tmp_path / "a", "a")
    assert artifact.result == result
    assert artifact.meta.pr_number == 9
    zipped = _zip(
        [(name, (tmp_path / "a" / name).read_bytes()) for name in ("report.json", "meta.json")]
    )
    assert read_artifact_zip(zipped, "z").result == result


def test_a_symlinked_file_is_refused_not_followed(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    secret = tmp_path / "secret"
    secret.write_text(json.dumps({"experiments": [], "notes": ["TOPSECRET"]}))
    (folder / "report.json").unlink()
    (folder / "report.json").symlink_to(secret)
    message = _refused(read_artifact, folder, "artifact")
    assert "symlink" in message and "TOPSECRET" not in message


def test_a_symlinked_folder_is_refused(tmp_path: Path) -> None:
    real = _folder(tmp_path)
    (tmp_path / "link").symlink_to(real)
    assert "not a folder" in _refused(read_artifact, tmp_path / "link", "link")


def test_a_missing_folder_says_what_to_do(tmp_path: Path) -> None:
    assert "does not exist" in _refused(read_artifact, tmp_path / "nope", "nope")


def test_a_fifo_a_folder_and_an_unexpected_file_are_refused(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    (folder / "report.json").unlink()
    os.mkfifo(folder / "report.json")
    # A FIFO would block a reader forever: refused before it is opened.
    assert "not a regular file" in _refused(read_artifact, folder, "artifact")
    (folder / "report.json").unlink()
    (folder / "report.json").mkdir()
    assert "not a regular file" in _refused(read_artifact, folder, "artifact")
    (folder / "report.json").rmdir()
    (folder / "report.json").write_text("{}")
    (folder / "evil.sh").write_text("x")
    assert '"evil.sh"' in _refused(read_artifact, folder, "artifact")


def test_sizes_are_checked_before_reading(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    with (folder / "report.json").open("r+b") as file:
        file.truncate(200 * 1024 * 1024)  # sparse: 200 MB that cost nothing to write
    assert "report.json in artifact is too large (200.0 MB)" in _refused(
        read_artifact, folder, "artifact"
    )


@pytest.mark.parametrize(
    ("report", "refusal"),
    [
        (b"[]", "holds a JSON list"),
        (b'"text"', "holds a JSON str"),
        (b"[" * 100_000 + b"]" * 100_000, f"nests deeper than {MAX_DEPTH} levels"),
        (b'{"experiments": "x"}', "experiments: Input should be a valid list"),
        (b'{"experiments": [{"verdict": "pass"}]}', "experiments.0.candidate: Field required"),
        (b"\xff\xfe{}", "is not UTF-8"),
        (b"{", "is not valid JSON"),
    ],
)
def test_bad_reports_are_refused_in_one_line(tmp_path: Path, report: bytes, refusal: str) -> None:
    files = _files() | {"report.json": report}
    assert refusal in _refused(read_artifact, _folder(tmp_path, files), "artifact")
    zipped = _zip(list(files.items()))
    assert refusal in _refused(read_artifact_zip, zipped, "the artifact")


def test_hostile_keys_in_errors_stay_on_one_line(tmp_path: Path) -> None:
    metric = {
        "name": "tone",
        "kind": "categorical",
        "direction": "none",
        "baseline": None,
        "candidate": None,
        "delta": None,
        "ci_low": None,
        "ci_high": None,
        "p_value": None,
        "n": 1,
        "verdict": "unchanged",
        "gate": "pass",
        "distribution": {"\n::error::pwned": "x"},
    }
    experiment = {
        "verdict": "pass",
        "candidate": None,
        "baseline": None,
        "baseline_reason": "",
        "metrics": [metric],
        "records": {},
    }
    report = json.dumps({"experiments": [experiment]}).encode()
    message = _refused(read_artifact, _folder(tmp_path, _files() | {"report.json": report}), "a")
    assert "distribution. ::error::pwned" in message  # on the same line, not a command


def test_the_depth_scan_skips_strings() -> None:
    assert json_depth(b'{"a": "[[[[{{{{\\"[[", "b": [[1]]}') == 3


def _symlink_entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    info.create_system = 3
    return info


@pytest.mark.parametrize(
    ("entries", "refusal"),
    [
        ([(_symlink_entry("report.json"), b"/etc/passwd"), ("meta.json", b"{}")], "is a symlink"),
        ([("../report.json", b"{}"), ("meta.json", b"{}")], 'the path "../report.json"'),
        ([("/report.json", b"{}"), ("meta.json", b"{}")], 'the path "/report.json"'),
        ([("a\\..\\report.json", b"{}")], "the path"),
        ([("sub/", b""), ("meta.json", b"{}")], 'the path "sub/"'),
        ([("report.json", b"{}"), ("report.json", b"{}"), ("meta.json", b"{}")], "twice"),
        ([("report.json", b"{}"), ("meta.json", b"{}"), ("x.json", b"{}")], '"x.json"'),
    ],
)
def test_hostile_zip_entries_are_refused(entries: list[tuple[object, bytes]], refusal: str) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
        data = _zip(entries)  # type: ignore[arg-type]
    assert refusal in _refused(read_artifact_zip, data, "the artifact")


def test_a_zip_bomb_is_refused_by_its_declared_size() -> None:
    bomb = _zip([("report.json", b"0" * (MAX_REPORT + 1)), ("meta.json", b"{}")])
    assert len(bomb) < 100_000  # what is downloaded is small...
    assert "report.json in the artifact is too large" in _refused(
        read_artifact_zip, bomb, "the artifact"
    )


def test_a_zip_bomb_that_lies_about_its_size_is_cut_and_refused() -> None:
    """Declared sizes rewritten to 100 bytes in both headers: inflating stops at the limit
    and the CRC check fails, so nothing large is ever held."""
    data = bytearray(_zip([("report.json", b" " * (MAX_REPORT + 1)), ("meta.json", b"{}")]))
    local = data.find(b"PK\x03\x04")
    central = data.find(b"PK\x01\x02")
    struct.pack_into("<I", data, local + 22, 100)
    struct.pack_into("<I", data, central + 24, 100)
    assert "not a valid zip file" in _refused(read_artifact_zip, bytes(data), "the artifact")


def test_garbage_and_huge_downloads_are_refused() -> None:
    assert "not a valid zip file" in _refused(read_artifact_zip, b"not a zip", "the artifact")
    assert "too large" in _refused(read_artifact_zip, b"0" * (21 * 1024 * 1024), "the artifact")
