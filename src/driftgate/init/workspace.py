"""The edge of `driftgate init`: reads what `infer.py` works from (the Python files that may
use ddtrace, the manifests, the configuration in force, git's branches) and writes the
rendered files, all of them or none.

Reading is bounded and never blocks: only regular files are opened (no FIFO, device or
symlink), only their first `HEAD_BYTES`, and folders that hold installed packages, caches or
build output are not entered.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from driftgate.ci import git
from driftgate.config import find_config
from driftgate.init.infer import HEAD_BYTES, Facts, GitFacts, InitError, SourceFile, listed
from driftgate.init.render import GITIGNORE, Output

# Installed packages, caches, build output, other tools' state: never a team's script.
IGNORED_DIRS = frozenset(
    {
        "node_modules",
        "site-packages",
        "dist-packages",
        "__pycache__",
        "build",
        "dist",
        "venv",
        "htmlcov",
    }
)
MAX_FILES = 20_000
"""Python files looked at, at most: a repository with more is searched only in part."""
MANIFESTS = ("requirements.txt", "pyproject.toml")
_MENTIONS = b"llmobs"


def _skipped_dir(entry: os.DirEntry[str]) -> bool:
    name = entry.name
    if name.startswith(".") or name in IGNORED_DIRS or name.endswith(".egg-info"):
        return True
    # A virtual environment under any name.
    return os.path.exists(os.path.join(entry.path, "pyvenv.cfg"))


def _files(top: Path) -> Iterator[os.DirEntry[str]]:
    """Regular files under `top` (symlinks not followed), folders in name order."""
    stack = [str(top)]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as scan:
                entries = sorted(scan, key=lambda e: e.name)
        except OSError:
            continue  # unreadable: nothing to infer from it
        subfolders = []
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    if not _skipped_dir(entry):
                        subfolders.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    yield entry
            except OSError:
                continue
        stack.extend(reversed(subfolders))


def _head(path: str, limit: int = HEAD_BYTES) -> bytes | None:
    """The first `limit` bytes of a regular file, or None when it cannot be read as one."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        chunks = []
        left = limit
        while left > 0:
            chunk = os.read(fd, left)
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def _posix(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix() or "."


def _git_facts(root: Path) -> GitFacts:
    return GitFacts(
        origin_head=git.origin_head(root),
        init_default=git.config_value(root, "init.defaultBranch"),
        current=git.current_branch(root),
        branches=tuple(git.local_branches(root)),
        has_origin=git.config_value(root, "remote.origin.url") is not None,
    )


def _script(path: str, cwd: Path, root: Path) -> SourceFile:
    typed = Path(path)
    target = (cwd / typed).resolve()
    try:
        relative = _posix(target, root)
    except ValueError:
        raise InitError(
            f"--script {path}: outside the repository ({root}); pass a script inside it"
        ) from None
    head = _head(str(target))
    if head is None:
        raise InitError(f"--script {path}: no such file (or not a regular file) in {root}")
    return SourceFile(relative, head.decode("utf-8", "replace"))


def read_facts(path: Path, script: str | None, cwd: Path) -> tuple[Path, Facts]:
    """The repository's root, and what `infer.plan` needs of the project at `path`."""
    project = (cwd / path).resolve()
    if not project.is_dir():
        raise InitError(f"{path}: no such folder; pass the folder of the project to set up")
    top = git.toplevel(project)
    root = top.resolve() if top is not None else project
    sources: list[SourceFile] = []
    manifests: dict[str, str] = {}
    looked = 0
    for entry in _files(project):
        name = entry.name
        if name in MANIFESTS:
            head = _head(entry.path)
            if head is not None:
                manifests[_posix(Path(entry.path), root)] = head.decode("utf-8", "replace")
        elif name.endswith(".py") and looked < MAX_FILES:
            looked += 1
            head = _head(entry.path)
            # Only files that mention llmobs can use its experiments: the others are not kept.
            if head is not None and _MENTIONS in head.lower():
                relative = _posix(Path(entry.path), root)
                sources.append(SourceFile(relative, head.decode("utf-8", "replace")))
    for folder in [project, *project.parents]:  # the manifests above the project
        if not folder.is_relative_to(root):
            break
        for name in MANIFESTS:
            head = _head(str(folder / name))
            if head is not None:
                manifests.setdefault(_posix(folder / name, root), head.decode("utf-8", "replace"))
    config = find_config(project, root)
    facts = Facts(
        root_name=root.name,
        project=_posix(project, root),
        sources=tuple(sources),
        manifests=manifests,
        existing_config=_posix(config.resolve(), root) if config is not None else None,
        git=_git_facts(root) if top is not None else None,
        script=_script(script, cwd, root) if script is not None else None,
    )
    return root, facts


def read_gitignore(root: Path) -> str | None:
    head = _head(str(root / GITIGNORE), limit=16 * 1024 * 1024)
    return head.decode("utf-8", "replace") if head is not None else None


def existing(root: Path, outputs: Sequence[Output]) -> list[str]:
    """The files `outputs` would overwrite."""
    return [o.path for o in outputs if o.replaces and os.path.lexists(root / o.path)]


def refuse_overwrite(root: Path, outputs: Sequence[Output]) -> None:
    found = existing(root, outputs)
    if found:
        them = "it" if len(found) == 1 else "them"
        verb = "exists" if len(found) == 1 else "exist"
        raise InitError(
            f"{listed(found, limit=len(found))} {verb}: pass --force to overwrite {them} "
            "(nothing was written)"
        )


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write(root: Path, outputs: Sequence[Output]) -> None:
    """Every output or none: each is written beside its target first, then all are moved into
    place. A file replaced keeps its permissions; a new one gets the umask's."""
    default_mode = 0o666 & ~_umask()
    staged: list[tuple[str, Path]] = []
    try:
        for output in outputs:
            target = root / output.path
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                mode = stat.S_IMODE(target.stat().st_mode)
            except FileNotFoundError:
                mode = default_mode
            fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".driftgate-init-")
            staged.append((temp, target))
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(output.text)
                os.fchmod(handle.fileno(), mode)
    except OSError as exc:
        for temp, _ in staged:
            Path(temp).unlink(missing_ok=True)
        where = f" ({exc.filename})" if exc.filename else ""
        raise InitError(
            f"cannot write the files{where}: {exc.strerror or exc}; nothing was written"
        ) from None
    # Renaming within a folder fails only when the folder does (a full disk fails above).
    for temp, target in staged:
        os.replace(temp, target)
