"""History kept in a branch of the user's own repository (`driftgate-data` by default), as
github-action-benchmark keeps its data in a branch: durable (GitHub never evicts a branch),
inspectable, and readable by any run that can fetch the repository, forks' included.

Format-agnostic: it stores and reads files (`dict[str, bytes]` keyed by paths such as
`runs/<pipeline>/<name>.jsonl`); what they hold is `experiments/`' business.

- `DataBranch.read` (pull requests; a read-only token suffices) fetches only that branch into
  a private ref (`refs/driftgate/<branch>`), then reads the files under a prefix with
  plumbing (`ls-tree`, `cat-file --batch`), within `ReadLimits`. Symbolic links, submodule
  entries, unsafe names and files over the limits are skipped and said, never followed.
- `DataBranch.write` (base-branch runs with `contents: write`) adds files and applies the
  retention as one commit on the remote branch's tip (a root commit when there is no branch
  yet), built in a temporary index, then pushes it. A push overtaken by another writer is
  rebuilt on the new tip and pushed again, with jittered backoff, up to `attempts` times.

Neither raises for what a run can meet (no branch, no remote, no credentials, a read-only
token, an unreachable or hung remote): each is a `Status` with a one-line note that says what
is missing and the fix, for the caller to decide on. Invalid arguments raise `ValueError`.

The user's working tree, index, HEAD, branches, remote-tracking branches, tags and config are
never touched; hooks do not run. The one trace is the private ref and the objects it holds.
git authenticates as the user's own commands do (the credentials actions/checkout persists,
a credential helper, ssh), since it runs in the user's repository. A shallow checkout
(actions/checkout's default) fetches only the branch's tip; a complete clone fetches the
branch's history (incrementally once fetched), since a depth-limited fetch would make the
clone shallow and local git would then stop answering for the baseline's commits
(`ancestry.py`).

Every git process runs with a timeout (`git.run`), its whole process group killed past it.
git's messages have credentials in URLs removed, and pass through a `Redactor` (by default
the environment's secrets) before they reach a note.

Where the branch fits, and the measured figures: docs/history.md.
May touch: git (processes), a temporary directory.
"""

from __future__ import annotations

import os
import random
import re
import tempfile
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

from driftgate.ci import git
from driftgate.ci.git import Completed, DubiousOwnership, GitError, GitTimeout, NotARepository
from driftgate.redact import Redactor

__all__ = [
    "DEFAULT_BRANCH",
    "STATUSES",
    "Backoff",
    "DataBranch",
    "Identity",
    "ReadLimits",
    "ReadOutcome",
    "Retention",
    "Skipped",
    "Status",
    "WriteOutcome",
    "keep_newest",
    "valid_branch",
]

DEFAULT_BRANCH = "driftgate-data"
PRIVATE_REFS = "refs/driftgate/"

Status = Literal[
    "ok",
    "no-branch",
    "no-remote",
    "not-a-repository",
    "denied",
    "conflict",
    "unreachable",
    "timeout",
    "failed",
]
"""ok; no-branch: the remote has no data branch yet (a read's outcome only); no-remote: the
checkout has no such remote; not-a-repository: no git checkout; denied: no credentials, a
read-only token, a protected branch, a hook's refusal; conflict: every attempt to push was
overtaken by another writer; unreachable: the remote could not be reached; timeout: a git
process outlived its timeout; failed: anything else (git's words are in the note)."""
STATUSES: tuple[Status, ...] = get_args(Status)

Retention = Callable[[Sequence[str]], Iterable[str]]
"""Given every path on the branch once a write's files are added (sorted), the paths to
remove; the write's own files are never removed. `keep_newest` makes the usual one."""

# Keeps git's side effects in the user's repository to the private ref and its objects: no
# hooks (theirs would run on our fetch and push), no automatic gc or commit-graph writes, and
# no index extensions that write files beside a temporary index.
_ISOLATED = (
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "gc.auto=0",
    "-c",
    "maintenance.auto=false",
    "-c",
    "fetch.writeCommitGraph=false",
    "-c",
    "core.splitIndex=false",
    "-c",
    "core.fsmonitor=false",
)
_BRANCH = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*")
_REMOTE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_SHOWN_MAX = 160
_LISTED_MAX = 5
_DETAIL_MAX = 400
# git's lines that say nothing about this failure.
_NOISE = ("hint:", "to ", "please make sure", "and the repository exists", "done")

# git's words, lowercased, for what a fetch or a push met.
_NO_CREDENTIALS = ("could not read username", "could not read password", "terminal prompts")
_READ_ONLY = ("returned error: 403", "error: 403", "write access to repository not granted")
_REFUSED_AUTH = ("authentication failed", "returned error: 401", "invalid username or password")
_SSH_DENIED = ("permission denied (publickey", "host key verification failed")
_NOT_FOUND = ("repository not found", "returned error: 404")
_PROTECTED = ("protected branch", "gh013", "rule violations", "gh006")
_FILESYSTEM = ("insufficient permission", "read-only file system", "permission denied")
_NETWORK = (
    "could not resolve host",
    "could not resolve proxy",
    "connection refused",
    "connection timed out",
    "operation timed out",
    "failed to connect",
    "network is unreachable",
    "no route to host",
    "connection reset",
    "could not read from remote repository",
    "does not appear to be a git repository",
    "unable to access",
    "early eof",
    "the remote end hung up",
)
_OVERTAKEN = ("fetch first", "non-fast-forward", "stale info", "already exists")
_RACE = ("failed to update ref", "failed to lock", "cannot lock", "incorrect old value")


@dataclass(frozen=True, slots=True)
class ReadLimits:
    """How much one read takes in at most; past a limit the read says so (`bounded`)."""

    max_files: int = 1000
    max_file_bytes: int = 64 * 2**20
    max_total_bytes: int = 256 * 2**20

    def __post_init__(self) -> None:
        if min(self.max_files, self.max_file_bytes, self.max_total_bytes) < 1:
            raise ValueError(f"read limits must be positive: {self}")


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the data branch's commits are by (author and committer), given to git through its
    environment: the user's git config is neither read for it nor changed."""

    name: str = "github-actions[bot]"
    email: str = "41898282+github-actions[bot]@users.noreply.github.com"

    def __post_init__(self) -> None:
        for value in (self.name, self.email):
            if not value.strip() or any(c in value for c in "<>\n\r\0"):
                raise ValueError(f"not a commit identity: {self.name!r} <{self.email!r}>")

    def env(self) -> dict[str, str]:
        return {
            "GIT_AUTHOR_NAME": self.name,
            "GIT_AUTHOR_EMAIL": self.email,
            "GIT_COMMITTER_NAME": self.name,
            "GIT_COMMITTER_EMAIL": self.email,
        }


@dataclass(frozen=True, slots=True)
class Backoff:
    """The wait before attempt n+1: `first_s * 2**(n-1)` capped at `max_s`, times a random
    factor in [0.5, 1), so that writers overtaken together do not come back together."""

    first_s: float = 0.5
    max_s: float = 8.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        ceiling: float = min(self.max_s, self.first_s * 2.0 ** (attempt - 1))
        return ceiling * rng.uniform(0.5, 1.0)


@dataclass(frozen=True, slots=True)
class Skipped:
    """An entry of the branch a read did not take: its path as shown (escaped) and why."""

    path: str
    why: str


@dataclass(frozen=True)
class ReadOutcome:
    status: Status
    files: Mapping[str, bytes] = field(default_factory=dict)
    """The files read, by their path on the branch (the prefix included)."""
    commit: str | None = None
    """The data branch's commit that was read."""
    notes: tuple[str, ...] = ()
    """What was read and how; for any other status than ok, first, what is wrong and the fix."""
    skipped: tuple[Skipped, ...] = ()
    bounded: bool = False
    """A limit stopped the read: files under the prefix were left unread (the notes say how
    many)."""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True)
class WriteOutcome:
    status: Status
    commit: str | None = None
    """The branch's tip after the write: the commit pushed, or the tip that already held the
    files (`pushed` False)."""
    pushed: bool = False
    attempts: int = 0
    """Attempts made (fetch, build, push); more than one when other writers landed first."""
    added: tuple[str, ...] = ()
    """The paths written whose content the branch did not hold."""
    removed: tuple[str, ...] = ()
    """The paths the retention removed."""
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def keep_newest(count: int, *, under: str = "runs/") -> Retention:
    """A retention that keeps, in each directory under `under`, the `count` files whose names
    sort last (the newest, for names that start with a time); paths elsewhere are kept."""
    if count < 1:
        raise ValueError(f"the retention must keep at least one file, not {count}")
    prefix = _checked_prefix(under)

    def retire(paths: Sequence[str]) -> list[str]:
        groups: dict[str, list[str]] = {}
        for path in paths:
            if path.startswith(prefix):
                groups.setdefault(path.rpartition("/")[0], []).append(path)
        return [old for group in groups.values() for old in sorted(group)[:-count]]

    return retire


class _Stop(Exception):
    """Ends a read or a write with a status and its note."""

    def __init__(self, status: Status, note: str) -> None:
        super().__init__(note)
        self.status = status
        self.note = note


@dataclass(frozen=True, slots=True)
class _Checkout:
    top: Path
    """Where git runs: the work tree's root (paths given to git are from there)."""
    shallow: bool


@dataclass(frozen=True)
class DataBranch:
    """The data branch `branch` on `remote`, as seen from the checkout at `repo` (any folder
    in it). `timeout` bounds each network command (fetch, push), `local_timeout` each other
    git command. `redactor` cleans every note (default: the environment's secrets)."""

    repo: Path
    remote: str = "origin"
    branch: str = DEFAULT_BRANCH
    timeout: float = 120.0
    local_timeout: float = 30.0
    redactor: Callable[[str], str] | None = None

    def __post_init__(self) -> None:
        if not valid_branch(self.branch):
            raise ValueError(f"not a branch name driftgate writes to: {self.branch!r}")
        if not _REMOTE.fullmatch(self.remote):
            raise ValueError(f"not a git remote's name: {self.remote!r}")

    @property
    def private_ref(self) -> str:
        """Where the fetched tip is kept: outside refs/heads, refs/remotes and refs/tags."""
        return PRIVATE_REFS + self.branch

    # -- reading --------------------------------------------------------------------------

    def read(
        self,
        prefix: str = "runs/",
        *,
        limits: ReadLimits | None = None,
        select: Callable[[str], bool] | None = None,
    ) -> ReadOutcome:
        """The files under `prefix` (a folder, `""` for all) on the remote's data branch;
        with `select`, only the paths it accepts are read (the others are only listed, so a
        long history costs a gate only the runs it needs)."""
        prefix = _checked_prefix(prefix)
        limits = limits or ReadLimits()
        try:
            checkout = self._checkout()
            tip = self._fetch(checkout, "read")
            if tip is None:
                raise _Stop(
                    "no-branch",
                    f"no {self.branch} branch on {self.remote} yet: it is written by the first "
                    "driftgate run on the base branch whose job may push (`permissions: "
                    "contents: write`); until then there is no recorded history to read",
                )
            return self._read_tree(checkout, tip, prefix, limits, select)
        except _Stop as stop:
            return ReadOutcome(stop.status, notes=(self._say(stop.note),))

    def _read_tree(
        self,
        checkout: _Checkout,
        tip: str,
        prefix: str,
        limits: ReadLimits,
        select: Callable[[str], bool] | None,
    ) -> ReadOutcome:
        how = "its tip (the checkout is shallow)" if checkout.shallow else "its history"
        origin = f"{self.branch} at {tip[:12]} (fetched {how} from {self.remote})"
        spec = f"{tip}:{prefix.rstrip('/')}" if prefix else f"{tip}^{{tree}}"
        found = self._checked(checkout, "cat-file", "--batch-check", input=spec.encode() + b"\n")
        oid, kind = [*found.split(), b"", b""][:2]
        if kind != b"tree":
            return ReadOutcome("ok", {}, tip, (f"{origin} holds nothing under {prefix}",))
        tree = oid.decode()
        listing = self._checked(checkout, "ls-tree", "-r", "-l", "-z", "--full-tree", tree)
        wanted: list[tuple[str, bytes, int]] = []
        skipped: list[Skipped] = []
        total = 0
        left = 0
        unselected = 0
        for entry in listing.split(b"\0"):
            if not entry:
                continue
            meta, _, name = entry.partition(b"\t")
            full = prefix.encode() + name
            mode, kind, oid, size = [*meta.split(), b"-", b"-", b"-", b"-"][:4]
            path, why = _entry(mode, kind, full)
            if why is None and (not size.isdigit() or int(size) > limits.max_file_bytes):
                why = f"{size.decode(errors='replace')} bytes, over the limit of "
                why += f"{limits.max_file_bytes} bytes a file"
            if path is None or why is not None:
                skipped.append(Skipped(_shown(full), why or "unreadable"))
                continue
            if select is not None and not select(path):
                unselected += 1
                continue
            # Once a limit is reached nothing more is taken, so what is read is a prefix of
            # the listing (in git's order) and what is left is said.
            if (
                left
                or len(wanted) >= limits.max_files
                or total + int(size) > limits.max_total_bytes
            ):
                left += 1
                continue
            wanted.append((path, oid, int(size)))
            total += int(size)
        files = self._blobs(checkout, wanted)
        notes = [f"read {_count(len(files), 'file')} ({_size(total)}) under {prefix} from {origin}"]
        if unselected:
            notes[0] += f"; {unselected} other{'s' if unselected > 1 else ''} not needed"
        if left:
            notes.append(
                f"{_count(left, 'more file')} under {prefix} left unread: the read stops at "
                f"{limits.max_files} files and {_size(limits.max_total_bytes)}"
            )
        if skipped:
            notes.append(
                f"skipped {_count(len(skipped), 'entry', 'entries')} under {prefix} that are "
                f"not plain files within the limits (not followed): {_listed(skipped)}"
            )
        return ReadOutcome(
            "ok",
            files,
            tip,
            tuple(self._say(note) for note in notes),
            tuple(skipped),
            bounded=left > 0,
        )

    def _blobs(self, checkout: _Checkout, wanted: list[tuple[str, bytes, int]]) -> dict[str, bytes]:
        if not wanted:
            return {}
        # The network's timeout: up to max_total_bytes come out, and a partial clone
        # (`--filter=blob:none`) fetches each missing blob from the remote here.
        out = self._checked(
            checkout,
            "cat-file",
            "--batch",
            input=b"".join(oid + b"\n" for _, oid, _ in wanted),
            timeout=self.timeout,
        )
        files: dict[str, bytes] = {}
        at = 0
        for path, oid, size in wanted:
            end = out.find(b"\n", at)
            header = out[at:end].split() if end >= 0 else []
            if header != [oid, b"blob", str(size).encode()] or len(out) < end + 1 + size:
                said = _shown(out[at : at + 120])
                raise _Stop("failed", f"git cat-file answered {said!r} for {oid.decode()}")
            files[path] = out[end + 1 : end + 1 + size]
            at = end + 1 + size + 1
        return files

    # -- writing --------------------------------------------------------------------------

    def write(
        self,
        files: Mapping[str, bytes],
        *,
        message: str | None = None,
        retention: Retention | None = None,
        identity: Identity | None = None,
        attempts: int = 5,
        backoff: Backoff | None = None,
        rng: random.Random | None = None,
    ) -> WriteOutcome:
        """Add `files` to the remote's data branch and apply `retention`, as one commit pushed
        on the branch's tip; rebuilt on the new tip and pushed again when another writer
        landed first, at most `attempts` times in all."""
        for path in files:
            if _unsafe(path) is not None:
                raise ValueError(f"not a path driftgate writes: {path!r} ({_unsafe(path)})")
        if attempts < 1:
            raise ValueError(f"attempts must be at least 1, not {attempts}")
        identity = identity or Identity()
        backoff = backoff or Backoff()
        rng = rng or random.Random()  # noqa: S311 (jitter, not a secret)
        message = message or _message(files)
        attempt = 0
        if not files and retention is None:
            return WriteOutcome("ok", notes=("nothing to write",))
        try:
            checkout = self._checkout()
            with tempfile.TemporaryDirectory(prefix="driftgate-data-") as scratch:
                blobs = self._hash(checkout, files, Path(scratch))
                while True:
                    attempt += 1
                    tip = self._fetch(checkout, "write")
                    built = self._build(checkout, tip, blobs, retention, identity, message, scratch)
                    if built.commit is None:
                        held = f"{self.branch} on {self.remote} already holds these files"
                        return WriteOutcome(
                            "ok",
                            tip,
                            pushed=False,
                            attempts=attempt - 1,
                            notes=(held if tip is not None else "nothing to write",),
                        )
                    if self._push(checkout, built.commit, attempt, attempts):
                        break
                    time.sleep(backoff.delay(attempt, rng))
        except _Stop as stop:
            note = stop.note
            if attempt > 1:
                note += f" (attempt {attempt} of {attempts})"
            return WriteOutcome(stop.status, attempts=attempt, notes=(self._say(note),))
        # For a later read in this checkout; the push is done whatever becomes of this.
        with suppress(_Stop):
            self._git(checkout, "update-ref", self.private_ref, built.commit)
        notes = [
            f"pushed {built.commit[:12]} to {self.branch} on {self.remote}"
            f"{' as its first commit' if tip is None else ''}: "
            f"{_count(len(built.added), 'file')} added"
        ]
        if attempt > 1:
            notes.append(
                f"pushed on attempt {attempt} of {attempts}: other writers landed first "
                f"{_count(attempt - 1, 'time')}, and the commit was rebuilt on their tip"
            )
        if built.replaced:
            notes.append(
                f"replaced {_count(len(built.replaced), 'file')}: {_paths(built.replaced)}"
            )
        if built.removed:
            notes.append(
                f"retention removed {_count(len(built.removed), 'file')}: {_paths(built.removed)}"
            )
        return WriteOutcome(
            "ok",
            built.commit,
            pushed=True,
            attempts=attempt,
            added=built.added,
            removed=built.removed,
            notes=tuple(self._say(note) for note in notes),
        )

    def _hash(
        self, checkout: _Checkout, files: Mapping[str, bytes], scratch: Path
    ) -> dict[str, str]:
        """Each file's blob, written into the repository's objects."""
        if not files:
            return {}
        sources = []
        for number, content in enumerate(files.values()):
            source = scratch / f"blob-{number}"
            source.write_bytes(content)
            sources.append(str(source))
        # --no-filters: the work tree's .gitattributes (an LFS filter on *.jsonl) must not
        # rewrite the data.
        out = self._checked(
            checkout,
            "hash-object",
            "-w",
            "--no-filters",
            "--stdin-paths",
            input="\n".join(sources).encode() + b"\n",
        )
        oids = out.decode().split()
        if len(oids) != len(files):
            raise _Stop("failed", f"git hash-object gave {len(oids)} ids for {len(files)} files")
        return dict(zip(files, oids, strict=True))

    def _build(
        self,
        checkout: _Checkout,
        tip: str | None,
        blobs: Mapping[str, str],
        retention: Retention | None,
        identity: Identity,
        message: str,
        scratch: str,
    ) -> _Built:
        """The commit of `tip`'s tree with `blobs` added and the retention applied, built in a
        temporary index; its commit None when that tree is `tip`'s."""
        index = Path(scratch) / "index"
        index.unlink(missing_ok=True)
        env = {"GIT_INDEX_FILE": str(index)}
        held: dict[str, str] = {}
        if tip is not None:
            self._checked(checkout, "read-tree", tip, env=env)
            listing = self._checked(checkout, "ls-tree", "-r", "-z", "--full-tree", tip)
            for entry in listing.split(b"\0"):
                meta, _, name = entry.partition(b"\t")
                if name:
                    held[name.decode("utf-8", "surrogateescape")] = meta.split()[2].decode()
        added = tuple(sorted(path for path, oid in blobs.items() if held.get(path) != oid))
        replaced = tuple(path for path in added if path in held)
        after = sorted({*held, *blobs})
        removed: tuple[str, ...] = ()
        if retention is not None:
            # What this write records stays, even when its names sort before the kept ones.
            removed = tuple(sorted((set(retention(after)) & set(after)) - set(blobs)))
        if blobs:
            info = b"".join(
                b"100644 %s\t%s\0" % (oid.encode(), path.encode()) for path, oid in blobs.items()
            )
            self._checked(checkout, "update-index", "-z", "--index-info", input=info, env=env)
        if removed:
            gone = b"".join(_raw(path) + b"\0" for path in removed)
            self._checked(
                checkout, "update-index", "--force-remove", "-z", "--stdin", input=gone, env=env
            )
        if tip is None and not blobs:
            return _Built(None, (), (), ())
        tree = self._checked(checkout, "write-tree", env=env).decode().strip()
        if tip is not None:
            before = self._checked(checkout, "rev-parse", f"{tip}^{{tree}}").decode().strip()
            if tree == before:
                return _Built(None, (), (), ())
        parents = ("-p", tip) if tip is not None else ()
        commit = self._checked(
            checkout,
            "commit-tree",
            "--no-gpg-sign",
            *parents,
            "-F",
            "-",
            tree,
            input=message.encode(),
            env={**env, **identity.env()},
        )
        return _Built(commit.decode().strip(), added, removed, replaced)

    def _push(self, checkout: _Checkout, commit: str, attempt: int, attempts: int) -> bool:
        """True when the push landed, False when another writer landed first and there is an
        attempt left; raises `_Stop` otherwise."""
        tracking = self._tracking(checkout)
        done = self._network(
            checkout,
            "push",
            "--porcelain",
            "--no-verify",
            "--no-follow-tags",
            "--no-signed",
            "--recurse-submodules=no",
            self.remote,
            f"{commit}:refs/heads/{self.branch}",
            action="push",
        )
        statuses = [
            line.split("\t")
            for line in done.stdout.decode("utf-8", "replace").splitlines()
            if line[:1] in {" ", "*", "+", "-", "=", "!"} and line.count("\t") >= 2
        ]
        if done.returncode == 0 and statuses and all(s[0] != "!" for s in statuses):
            # git push also makes a remote-tracking branch for what it pushed, when the
            # remote's fetch refspec maps it (a complete clone's does): not the user's to get.
            # The push landed whatever becomes of this.
            with suppress(_Stop):
                for ref in self._tracking(checkout) - tracking:
                    self._git(checkout, "update-ref", "-d", ref, commit)
            return True
        summary = " ".join(s[2] for s in statuses if s[0] == "!").lower()
        overtaken = any(m in summary for m in _OVERTAKEN) or (
            "remote rejected" in summary and any(m in summary for m in _RACE)
        )
        if overtaken:
            if attempt < attempts:
                return False
            raise _Stop(
                "conflict",
                f"gave up pushing to {self.branch} on {self.remote} after {attempts} attempts: "
                "other writers kept landing first (the files were not recorded; re-run the job, "
                "or allow more attempts)",
            )
        raise self._refused(done.stderr + "\n" + summary, "push")

    def _tracking(self, checkout: _Checkout) -> set[str]:
        listed = self._checked(
            checkout, "for-each-ref", "--format=%(refname)", f"refs/remotes/{self.remote}/"
        )
        return set(listed.decode("utf-8", "surrogateescape").split())

    # -- git ------------------------------------------------------------------------------

    def _checkout(self) -> _Checkout:
        try:
            out = git.checked(
                self.repo,
                "rev-parse",
                "--is-shallow-repository",
                "--show-cdup",
                timeout=self.local_timeout,
            )
        except DubiousOwnership as exc:
            raise _Stop("failed", str(exc)) from exc
        except NotARepository as exc:
            raise _Stop(
                "not-a-repository",
                f"{self.repo} is not a git checkout, so driftgate cannot fetch the "
                f"{self.branch} branch: check the repository out with git (actions/checkout "
                "downloads a tarball instead when git is not on the runner's PATH)",
            ) from exc
        except GitTimeout as exc:
            raise _Stop("timeout", str(exc)) from exc
        except GitError as exc:
            raise _Stop("failed", str(exc)) from exc
        lines = out.decode().splitlines()
        shallow = bool(lines) and lines[0].strip() == "true"
        cdup = lines[1].strip() if len(lines) > 1 else ""
        checkout = _Checkout((Path(self.repo) / cdup).resolve(), shallow)
        remote = self._git(checkout, "remote", "get-url", "--", self.remote)
        if remote.returncode != 0:
            raise _Stop(
                "no-remote",
                f"the checkout at {self.repo} has no remote named {self.remote}: the "
                f"{self.branch} branch is kept on the repository the checkout came from "
                f"(actions/checkout names it origin); add it with `git remote add {self.remote} "
                "URL`",
            )
        return checkout

    def _fetch(self, checkout: _Checkout, action: Literal["read", "write"]) -> str | None:
        """The remote branch's tip, fetched into the private ref; None when there is none."""
        depth = ("--depth=1",) if checkout.shallow else ()
        done = self._network(
            checkout,
            "fetch",
            "--no-tags",
            "--no-write-fetch-head",
            "--no-recurse-submodules",
            "--no-prune",
            "--refmap=",  # nor the remote-tracking branches a configured refspec would update
            *depth,
            self.remote,
            f"+refs/heads/{self.branch}:{self.private_ref}",
            action=action,
        )
        if done.returncode != 0:
            if "couldn't find remote ref" in done.stderr.lower():
                return None
            raise self._refused(done.stderr, action)
        tip = self._checked(checkout, "rev-parse", "--verify", f"{self.private_ref}^{{commit}}")
        return tip.decode().strip()

    def _network(self, checkout: _Checkout, *args: str, action: str) -> Completed:
        try:
            return git.run(checkout.top, *_ISOLATED, *args, timeout=self.timeout)
        except GitTimeout as exc:
            raise _Stop(
                "timeout",
                f"git {args[0]} {self.remote} ({action} {self.branch}) did not finish within "
                f"{self.timeout:g} s and was stopped: the remote did not answer",
            ) from exc
        except GitError as exc:
            raise _Stop("failed", str(exc)) from exc

    def _refused(self, said: str, action: str) -> _Stop:
        """The `_Stop` for a fetch or push that git refused, from git's words."""
        lowered = said.lower()
        detail = _detail(said)
        where = f"{self.remote} ({self.branch})"
        # A write's fetch only reads: its refusals are a read's.
        writing = action == "push"
        if any(m in lowered for m in _NO_CREDENTIALS):
            return _Stop(
                "denied",
                f"git has no credentials for {where}: driftgate's git commands use the ones "
                "actions/checkout leaves (keep its default `persist-credentials: true`) or a "
                f"credential helper [{detail}]",
            )
        if writing and (
            any(m in lowered for m in _READ_ONLY)
            or ("permission to" in lowered and "denied" in lowered)
        ):
            return _Stop(
                "denied",
                f"the token may not push to {where}: give the job `permissions: contents: "
                "write` (only base-branch runs write history; a fork's pull request never "
                f"can, and need not) [{detail}]",
            )
        if writing and any(m in lowered for m in _PROTECTED):
            return _Stop(
                "denied",
                f"a branch protection rule refused the push to {where}: exempt the "
                f"{self.branch} branch (or the workflow's token) from the rule [{detail}]",
            )
        if "hook declined" in lowered:
            return _Stop(
                "denied",
                f"the remote's hook refused the push to {where} [{detail}]",
            )
        if (
            any(m in lowered for m in _READ_ONLY + _REFUSED_AUTH + _SSH_DENIED)
            or ("permission to" in lowered and "denied" in lowered)
            or (writing and any(m in lowered for m in _FILESYSTEM))
        ):
            need = "`contents: write`" if writing else "`contents: read`"
            return _Stop(
                "denied",
                f"{self.remote} refused the credentials git has for {where}: the token needs "
                f"{need} on the repository [{detail}]",
            )
        if any(m in lowered for m in _NOT_FOUND):
            return _Stop(
                "denied",
                f"{self.remote} says the repository does not exist, or the token cannot see it "
                f"({where}): a private repository needs a token with `contents: read` "
                f"[{detail}]",
            )
        if any(m in lowered for m in _NETWORK):
            return _Stop("unreachable", f"could not reach {where} [{detail}]")
        return _Stop("failed", f"git {action} of {where} failed [{detail}]")

    def _git(
        self, checkout: _Checkout, *args: str, env: Mapping[str, str] | None = None
    ) -> Completed:
        try:
            return git.run(checkout.top, *_ISOLATED, *args, env=env, timeout=self.local_timeout)
        except GitTimeout as exc:
            raise _Stop("timeout", str(exc)) from exc
        except GitError as exc:
            raise _Stop("failed", str(exc)) from exc

    def _checked(
        self,
        checkout: _Checkout,
        *args: str,
        input: bytes | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> bytes:
        try:
            return git.checked(
                checkout.top,
                *_ISOLATED,
                *args,
                input=input,
                env=env,
                timeout=timeout or self.local_timeout,
            )
        except GitTimeout as exc:
            raise _Stop("timeout", str(exc)) from exc
        except GitError as exc:
            raise _Stop("failed", str(exc)) from exc

    def _say(self, note: str) -> str:
        redactor = self.redactor or Redactor.of((), os.environ)
        return redactor(git.redact(note))


@dataclass(frozen=True, slots=True)
class _Built:
    commit: str | None
    added: tuple[str, ...]
    removed: tuple[str, ...]
    replaced: tuple[str, ...]


def _checked_prefix(prefix: str) -> str:
    """`prefix` as a folder path ending with "/", or "" for the whole branch."""
    stripped = prefix.strip("/")
    if not stripped:
        return ""
    why = _unsafe(stripped)
    if why is not None:
        raise ValueError(f"not a folder on the data branch: {prefix!r} ({why})")
    return stripped + "/"


def valid_branch(name: str) -> bool:
    """Whether `name` is a branch name driftgate writes (a safe subset of git's rules)."""
    return (
        bool(_BRANCH.fullmatch(name))
        and not name.endswith(("/", ".", ".lock"))
        and all(part and not part.startswith(".") for part in name.split("/"))
        and ".." not in name
    )


def _unsafe(path: str) -> str | None:
    """Why `path` is not one driftgate reads or writes, or None. Only plain relative paths
    of printable characters: nothing that climbs out (`..`), reaches into `.git`, or carries
    control characters (a terminal's escapes, a line break in a log) or a backslash."""
    if not path or len(path) > 1024:
        return "empty or too long"
    if any(unicodedata.category(c) in {"Cc", "Cf", "Cs", "Zl", "Zp"} for c in path):
        return "control or invisible characters in its name"
    if "\\" in path:
        return "a backslash in its name"
    parts = path.split("/")
    if any(part in {"", ".", ".."} for part in parts):
        return "an empty, `.` or `..` part"
    if any(part.lower() == ".git" for part in parts):
        return "a `.git` part"
    return None


def _entry(mode: bytes, kind: bytes, full: bytes) -> tuple[str | None, str | None]:
    """(the path, None) for a tree entry that is a plain file with a safe name; else (None or
    the path, why it is skipped)."""
    if mode == b"120000":
        return None, "a symbolic link"
    if kind == b"commit" or mode == b"160000":
        return None, "a submodule entry"
    if kind != b"blob" or mode not in {b"100644", b"100755"}:
        return None, f"an entry of mode {mode.decode(errors='replace')}"
    try:
        path = full.decode("utf-8")
    except UnicodeDecodeError:
        return None, "a name that is not UTF-8"
    why = _unsafe(path)
    return (None, why) if why is not None else (path, None)


def _shown(raw: bytes, limit: int = _SHOWN_MAX) -> str:
    """A path from the branch as it may be printed: escapes for anything unprintable."""
    text = raw.decode("utf-8", "backslashreplace")
    shown = "".join(
        c if unicodedata.category(c)[0] not in {"C", "Z"} or c == " " else f"\\u{ord(c):04x}"
        for c in text
    )
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def _raw(path: str) -> bytes:
    return path.encode("utf-8", "surrogateescape")


def _detail(said: str) -> str:
    """git's own words, one line, bounded."""
    lines = [
        line.strip()
        for line in said.splitlines()
        if line.strip() and not line.strip().lower().startswith(_NOISE)
    ]
    text = "; ".join(lines) or "no message"
    return _shown(text.encode("utf-8", "replace"), _DETAIL_MAX)


def _message(files: Mapping[str, bytes]) -> str:
    listed = "\n".join(sorted(files))
    return f"driftgate: record {_count(len(files), 'file')}\n\n{listed}\n"


def _listed(skipped: Sequence[Skipped]) -> str:
    shown = [f"{s.path} ({s.why})" for s in skipped[:_LISTED_MAX]]
    more = len(skipped) - _LISTED_MAX
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def _paths(paths: Sequence[str]) -> str:
    shown = [_shown(_raw(p)) for p in paths[:_LISTED_MAX]]
    more = len(paths) - _LISTED_MAX
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 2**20:
        return f"{n / 1024:.1f} KiB"
    return f"{n / 2**20:.1f} MiB"
