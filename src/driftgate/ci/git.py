"""How driftgate runs `git`. Thin: each function runs one or two git commands and returns
what they said; decisions belong to the callers (`context.py`, the baseline, the data
branch). `run` and `checked` are the way in for a module that needs git's bytes, its stdin
or its environment (`databranch.py`).

Every command is an argv list (never a shell), runs with a timeout in its own process group
(killed whole past it), without a terminal prompt (`GIT_TERMINAL_PROMPT=0`: a CI job must
fail, not hang waiting for a password), and with git's messages in English (`LC_ALL=C`) so
that the few we recognise stay recognisable. Failures raise `GitError` (or a subclass)
naming the command, the directory and git's own message, with the fix when we know it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from driftgate.errors import UsageError

DEFAULT_TIMEOUT = 30.0
_REAP_S = 5.0

_DUBIOUS = re.compile(r"dubious ownership in repository at '([^']+)'")
_NOT_A_REPO = "not a git repository"
_UNKNOWN_REVISION = (
    "not a valid object name",
    "not a valid commit name",
    "unknown revision",
    "bad object",
    "bad revision",
)
# user:password@ or token@ in a URL that git may echo in a message.
_URL_CREDENTIALS = re.compile(r"(?i)([a-z][a-z0-9+.-]*://)[^/@\s]+@")
_SCP_LIKE = re.compile(r"^(?:[^@/]+@)?(?P<host>[^:/]+):(?P<path>.*)$")
_FETCH_MORE = (
    "the clone is shallow: fetch the history (actions/checkout with `fetch-depth: 0`, "
    "or `git fetch --unshallow`)"
)


class GitError(UsageError):
    """A git command failed; the message names the command, the directory and git's words."""

    def __init__(self, message: str, command: tuple[str, ...] = (), cwd: str = "") -> None:
        super().__init__(message)
        self.command = command
        self.cwd = cwd


class NotARepository(GitError):
    """The directory is not inside a git work tree."""


class DubiousOwnership(GitError):
    """git refuses a repository owned by another user (a container running as root on a
    checkout made by the runner's user). `fix` is the exact command that allows it."""

    def __init__(self, message: str, command: tuple[str, ...], cwd: str, path: str) -> None:
        super().__init__(message, command, cwd)
        self.path = path
        self.fix = f"git config --global --add safe.directory {path}"


class NoCommits(GitError):
    """The repository exists but HEAD points at a branch with no commit yet."""


class UnknownRevision(GitError):
    """A commit or ref is not in this clone (often: a shallow clone without that history)."""


def redact(text: str) -> str:
    """`text` with credentials embedded in URLs replaced, so that no message can leak a token."""
    return _URL_CREDENTIALS.sub(r"\1***@", text)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(GIT_TERMINAL_PROMPT="0", LC_ALL="C", LANGUAGE="C", GIT_OPTIONAL_LOCKS="0")
    return env


def _checked_rev(rev: str, command: tuple[str, ...], cwd: Path) -> str:
    # Revisions come from event payloads and users: one starting with "-" would be an option.
    if not rev or rev.startswith("-") or any(c.isspace() or c == "\0" for c in rev):
        raise GitError(
            f"refusing to pass {rev!r} to git as a revision", command=command, cwd=str(cwd)
        )
    return rev


@dataclass(frozen=True, slots=True)
class Completed:
    """What a git command said: its exit status, its output as bytes, its messages (with any
    credentials in URLs redacted)."""

    returncode: int
    stdout: bytes
    stderr: str


class GitTimeout(GitError):
    """A git command did not finish in time; it and every process it started were killed."""


def run(
    cwd: Path | str,
    *args: str,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Completed:
    """Run `git args...` in `cwd` with `input` on its stdin and `env` over git's environment;
    return what it said whatever its exit status. Raises `GitError` only when git could not
    run (not installed, no such directory) and `GitTimeout` when it outlived `timeout`.

    git runs in its own process group, killed whole on a timeout or an interruption: a fetch
    starts helpers (`git-remote-https`, ssh) that would otherwise outlive it and hold its pipes.
    """
    command = ("git", *args)
    shown = " ".join(command)
    where = str(cwd)
    full_env = _env()
    if env:
        full_env.update(env)
    try:
        proc = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=full_env,
            stdin=subprocess.DEVNULL if input is None else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        if not Path(cwd).is_dir():
            raise NotARepository(
                f"`{shown}`: the directory {where} does not exist", command, where
            ) from exc
        raise GitError(
            "git is not installed or not on PATH (driftgate needs it to read the commit "
            "history; install git, or run inside GitHub Actions where the event says it)",
            command,
            where,
        ) from exc
    except NotADirectoryError as exc:
        raise NotARepository(f"`{shown}`: {where} is not a directory", command, where) from exc
    try:
        stdout, stderr = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        _kill_group(proc)
        raise GitTimeout(
            f"`{shown}` in {where} did not finish within {timeout:g} s", command, where
        ) from exc
    except BaseException:
        _kill_group(proc)
        raise
    return Completed(proc.returncode, stdout, redact(_text(stderr)))


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    # The group is gone, so the pipes close; the bound is for a helper that left the group.
    with suppress(subprocess.TimeoutExpired, OSError, ValueError):
        proc.communicate(timeout=_REAP_S)
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def _text(data: bytes) -> str:
    # As text mode would: universal newlines.
    return data.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")


def _git(
    cwd: Path | str, *args: str, ok: tuple[int, ...] = (0,), timeout: float = DEFAULT_TIMEOUT
) -> tuple[int, str]:
    """Run `git args...` in `cwd`; return (exit status, stdout) when the status is in `ok`."""
    done = run(cwd, *args, timeout=timeout)
    if done.returncode in ok:
        return done.returncode, _text(done.stdout)
    raise failure(done, args, cwd)


def checked(
    cwd: Path | str,
    *args: str,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> bytes:
    """`run`, and its output when git succeeded; else the `GitError` that `failure` makes."""
    done = run(cwd, *args, input=input, env=env, timeout=timeout)
    if done.returncode != 0:
        raise failure(done, args, cwd)
    return done.stdout


def failure(done: Completed, args: tuple[str, ...], cwd: Path | str) -> GitError:
    """The error for a git command that failed: a subclass when git's words are recognised
    (another user's repository, not a repository, an unknown revision)."""
    command = ("git", *args)
    shown = " ".join(command)
    where = str(cwd)
    message = done.stderr.strip() or f"exit status {done.returncode}"
    lowered = message.lower()
    dubious = _DUBIOUS.search(message)
    if dubious:
        path = dubious.group(1)
        return DubiousOwnership(
            f"git refuses the repository at {path}: it belongs to another user "
            f'("dubious ownership"). Allow it with: '
            f"git config --global --add safe.directory {path}",
            command,
            where,
            path,
        )
    if _NOT_A_REPO in lowered:
        return NotARepository(
            f"{where} is not inside a git repository (`{shown}`: {message})", command, where
        )
    if any(marker in lowered for marker in _UNKNOWN_REVISION):
        return UnknownRevision(f"`{shown}` in {where}: {message}", command, where)
    return GitError(f"`{shown}` failed in {where}: {message}", command, where)


def is_repo(cwd: Path | str, *, timeout: float = DEFAULT_TIMEOUT) -> bool:
    """Whether `cwd` is inside a git work tree. A repository git refuses to read (dubious
    ownership) raises `DubiousOwnership` rather than answering False: the fix is one command."""
    try:
        _, out = _git(cwd, "rev-parse", "--is-inside-work-tree", timeout=timeout)
    except NotARepository:
        return False
    return out.strip() == "true"


def head_sha(cwd: Path | str, *, timeout: float = DEFAULT_TIMEOUT) -> str:
    """The full sha of the commit checked out (HEAD)."""
    code, out = _git(
        cwd,
        "rev-parse",
        "--verify",
        "--quiet",
        "--end-of-options",
        "HEAD^{commit}",
        ok=(0, 1),
        timeout=timeout,
    )
    if code == 1 or not out.strip():
        raise NoCommits(
            f"the repository at {cwd} has no commits yet: commit something first",
            ("git", "rev-parse", "HEAD"),
            str(cwd),
        )
    return out.strip()


def current_branch(cwd: Path | str, *, timeout: float = DEFAULT_TIMEOUT) -> str | None:
    """The checked-out branch's short name, or None when HEAD is detached (as actions/checkout
    leaves it for pull requests). A branch without commits yet still has its name."""
    code, out = _git(cwd, "symbolic-ref", "--quiet", "--short", "HEAD", ok=(0, 1), timeout=timeout)
    return (out.strip() or None) if code == 0 else None


def origin_head(cwd: Path | str, *, timeout: float = DEFAULT_TIMEOUT) -> str | None:
    """The branch `origin/HEAD` points at: the remote's default branch as the clone recorded
    it. None without one (no remote, or a remote added by hand, until `git remote set-head
    origin --auto`). Only local refs are read: no network."""
    code, out = _git(
        cwd,
        "symbolic-ref",
        "--quiet",
        "--short",
        "refs/remotes/origin/HEAD",
        ok=(0, 1),
        timeout=timeout,
    )
    if code == 0 and out.strip().startswith("origin/"):
        return out.strip().removeprefix("origin/") or None
    return None


def local_branches(cwd: Path | str, *, timeout: float = DEFAULT_TIMEOUT) -> list[str]:
    """The short names of the local branches (`refs/heads`), sorted."""
    _, out = _git(cwd, "for-each-ref", "--format=%(refname:short)", "refs/heads", timeout=timeout)
    return sorted(out.split())


def config_value(cwd: Path | str, key: str, *, timeout: float = DEFAULT_TIMEOUT) -> str | None:
    """git's setting `key` as git resolves it (the repository's, the user's, the system's), or
    None when unset."""
    code, out = _git(cwd, "config", "--get", key, ok=(0, 1), timeout=timeout)
    return (out.strip() or None) if code == 0 else None


def default_branch(cwd: Path | str, *, timeout: float = DEFAULT_TIMEOUT) -> str | None:
    """The remote's default branch (`origin/HEAD`), else `main` or `master` when such a branch
    exists locally or on origin, else None. Only local refs are read: no network."""
    recorded = origin_head(cwd, timeout=timeout)
    if recorded:
        return recorded
    candidates = ("main", "master")
    refs = [f"refs/{kind}/{name}" for name in candidates for kind in ("heads", "remotes/origin")]
    _, out = _git(cwd, "for-each-ref", "--format=%(refname)", *refs, timeout=timeout)
    existing = set(out.split())
    return next(
        (
            name
            for name in candidates
            if f"refs/heads/{name}" in existing or f"refs/remotes/origin/{name}" in existing
        ),
        None,
    )


def is_shallow(cwd: Path | str, *, timeout: float = DEFAULT_TIMEOUT) -> bool:
    """Whether the clone has only part of the history (`git clone --depth`, actions/checkout's
    default `fetch-depth: 1`)."""
    _, out = _git(cwd, "rev-parse", "--is-shallow-repository", timeout=timeout)
    return out.strip() == "true"


def _with_shallow_hint(cwd: Path | str, error: UnknownRevision, timeout: float) -> GitError:
    try:
        shallow = is_shallow(cwd, timeout=timeout)
    except GitError:
        shallow = False
    if not shallow:
        return error
    return UnknownRevision(f"{error}; {_FETCH_MORE}", error.command, error.cwd)


def merge_base(cwd: Path | str, a: str, b: str, *, timeout: float = DEFAULT_TIMEOUT) -> str | None:
    """The best common ancestor of `a` and `b`, or None when their histories do not meet.

    In a shallow clone "do not meet" usually means "the history is cut", so that case raises
    `UnknownRevision` saying to fetch more instead of answering None.
    """
    command = ("git", "merge-base", a, b)
    args = [_checked_rev(rev, command, Path(cwd)) for rev in (a, b)]
    try:
        code, out = _git(cwd, "merge-base", "--end-of-options", *args, ok=(0, 1), timeout=timeout)
    except UnknownRevision as exc:
        raise _with_shallow_hint(cwd, exc, timeout) from exc
    if code == 0 and out.strip():
        return out.split()[0]
    if is_shallow(cwd, timeout=timeout):
        raise UnknownRevision(
            f"no merge-base of {a} and {b} in {cwd}: {_FETCH_MORE}", command, str(cwd)
        )
    return None


def first_parent_ancestors(
    cwd: Path | str, sha: str, limit: int, *, timeout: float = DEFAULT_TIMEOUT
) -> list[str]:
    """`sha` and then its first-parent ancestors, newest first, at most `limit` commits.

    First parents only: on the base branch they are the commits the branch itself pointed at,
    not the commits of the feature branches merged into it. In a shallow clone the list stops
    where the history was cut.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    command = ("git", "rev-list", "--first-parent", sha)
    rev = _checked_rev(sha, command, Path(cwd))
    try:
        _, out = _git(
            cwd,
            "rev-list",
            "--first-parent",
            f"--max-count={limit}",
            "--end-of-options",
            rev,
            timeout=timeout,
        )
    except UnknownRevision as exc:
        raise _with_shallow_hint(cwd, exc, timeout) from exc
    return out.split()


def changed_files(
    cwd: Path | str, *, ignore: tuple[str, ...] = (), timeout: float = DEFAULT_TIMEOUT
) -> list[str]:
    """The tracked files whose working-tree or staged content differs from HEAD, relative to
    the repository's root: a run from such a tree did not run the commit it is recorded for.
    Untracked files do not count (`git describe --dirty` agrees), nor do the paths in
    `ignore` (from the root): a run's own output (`.driftgate/`, even when committed by
    mistake) would otherwise make every run dirty."""
    excluded = [f":(top,exclude){path}" for path in ignore]
    _, out = _git(
        cwd,
        "-c",
        "status.relativePaths=false",
        "status",
        "--porcelain=v1",
        "-z",
        "--untracked-files=no",
        "--",
        ":(top)",
        *excluded,
        timeout=timeout,
    )
    entries = out.split("\0")
    files: list[str] = []
    skip = False
    for entry in entries:
        if skip:  # the source path of a rename or copy
            skip = False
            continue
        if len(entry) > 3:
            files.append(entry[3:])
            skip = entry[0] in "RC"
    return files


def normalize_remote_url(url: str) -> str | None:
    """A remote URL as a browsable web URL without credentials, or None for local paths.

    `git@host:o/r.git`, `ssh://git@host:22/o/r`, `git://host/o/r` and
    `https://user:token@host/o/r.git` all become `https://host/o/r`. `http://` stays http (a
    server on a laptop or in a test has no https) and keeps its port; https keeps a non-default
    port; ssh ports are dropped (they are not the web server's).
    """
    url = url.strip()
    if not url:
        return None
    if "://" not in url:
        scp = _SCP_LIKE.match(url)
        # "C:\\repo" or "./repo:x" are paths, not host:path.
        if not scp or "\\" in url or len(scp.group("host")) == 1 or url.startswith("."):
            return None
        host, path, scheme, port = scp.group("host").lower(), scp.group("path"), "https", None
    else:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in {"https", "http", "ssh", "git", "git+ssh", "ssh+git"}:
            return None
        host = (parts.hostname or "").lower()
        try:
            port = parts.port
        except ValueError:
            port = None
        path = parts.path
        if scheme not in {"http", "https"}:
            scheme, port = "https", None
        elif (scheme, port) in {("https", 443), ("http", 80)}:
            port = None
    if not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    path = path.strip("/").removesuffix(".git").strip("/")
    netloc = f"{host}:{port}" if port else host
    return f"{scheme}://{netloc}/{path}" if path else f"{scheme}://{netloc}"


def remote_url(
    cwd: Path | str, remote: str = "origin", *, timeout: float = DEFAULT_TIMEOUT
) -> str | None:
    """The remote's URL, normalised by `normalize_remote_url` (never with a token in it), or
    None when there is no such remote or it is a local path."""
    code, out = _git(cwd, "remote", "get-url", "--", remote, ok=(0, 2), timeout=timeout)
    if code != 0:
        return None
    return normalize_remote_url(out)


def toplevel(cwd: Path | str, *, timeout: float = DEFAULT_TIMEOUT) -> Path | None:
    """The root of the work tree that holds `cwd` (`git rev-parse --show-toplevel`), or None
    outside a repository."""
    try:
        _, out = _git(cwd, "rev-parse", "--show-toplevel", timeout=timeout)
    except NotARepository:
        return None
    return Path(out.strip()) if out.strip() else None


@dataclass(frozen=True, slots=True)
class GitRepo:
    """The functions above bound to one directory: what `context.py` receives as its reader."""

    cwd: Path
    timeout: float = DEFAULT_TIMEOUT

    def is_repo(self) -> bool:
        return is_repo(self.cwd, timeout=self.timeout)

    def head_sha(self) -> str:
        return head_sha(self.cwd, timeout=self.timeout)

    def current_branch(self) -> str | None:
        return current_branch(self.cwd, timeout=self.timeout)

    def default_branch(self) -> str | None:
        return default_branch(self.cwd, timeout=self.timeout)

    def merge_base(self, a: str, b: str) -> str | None:
        return merge_base(self.cwd, a, b, timeout=self.timeout)

    def first_parent_ancestors(self, sha: str, limit: int) -> list[str]:
        return first_parent_ancestors(self.cwd, sha, limit, timeout=self.timeout)

    def is_shallow(self) -> bool:
        return is_shallow(self.cwd, timeout=self.timeout)

    def remote_url(self) -> str | None:
        return remote_url(self.cwd, timeout=self.timeout)

    def changed_files(self, ignore: tuple[str, ...] = ()) -> list[str]:
        return changed_files(self.cwd, ignore=ignore, timeout=self.timeout)
