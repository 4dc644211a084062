"""Keeping known secrets off every surface: which values are secrets (the Action's secret
inputs, the environment's keys and tokens), the forms in which text can carry one, and
`Redactor`, which replaces each with `***`.

The forms: as written; URL-encoded (whole or in part); inside base64 (git's `Authorization:
basic` header holds `x-access-token:TOKEN` encoded, so the secret's bytes sit at any
offset); JSON-, HTML- or Markdown-escaped (report.json, the rendered surfaces); split by line
breaks (a wrapped log line, a JSON `\\n`) or by the zero-width spaces the renderer inserts.
A live output line is also cleared of a secret's first or last part at its end or start, since the
rest is on the line before or after.

GitHub masks what it knows in the log, never in API bodies or files: the session redacts
what it builds (the command line, its output and failure, the result, the report files) and
the adapters redact again where text leaves (the job summary, the comment, the check run).

Pure: no I/O.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Iterable, Mapping
from functools import cached_property
from urllib.parse import quote, quote_plus

__all__ = ["MASK", "NO_SECRETS", "Redactor", "secrets_in_env"]

MASK = "***"
MIN_NAMED = 4
"""A value the caller names as a secret (an input, `DD_API_KEY`) is one from this length."""
MIN_GUESSED = 8
"""A value that is a secret only by its variable's name (`*_TOKEN`) must be this long: shorter
ones (`true`, `1`, `none`) would mask ordinary words of the report."""
FRAGMENT = 6
"""The shortest part of a secret cleared at a line's edge (the rest is on the next line)."""
_MIN_BASE64 = 12

NAMED = (
    "DD_API_KEY",
    "DD_APP_KEY",
    "GITHUB_TOKEN",
    "ACTIONS_RUNTIME_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "INPUT_GITHUB-TOKEN",
    "INPUT_DD-API-KEY",
    "INPUT_DD-APP-KEY",
)
_SECRET_NAME = re.compile(r"(?:^|[_-])(?:TOKEN|SECRET|KEY)$|PASSWORD|PASSWD", re.IGNORECASE)

# Between two characters of a secret: a line break (as written, or escaped in JSON) or the
# zero-width space the renderer puts after `@` and before `#`.
_BREAK = r"(?:\r\n|\r|\n|\\r\\n|\\n|\\r|\u200b|\\u200b)"
_KEPT_BREAKS = re.compile(r"\r\n|\r|\n|\\r\\n|\\n|\\r")
_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
_ENTITIES = {
    "&": ("&amp;", "&#38;"),
    "<": ("&lt;", "&#60;"),
    ">": ("&gt;", "&#62;"),
    '"': ("&quot;", "&#34;"),
    "'": ("&#x27;", "&#39;"),
}


def secrets_in_env(env: Mapping[str, str]) -> list[str]:
    """The environment's secrets: the variables driftgate and the runner know to hold one,
    and any `*_TOKEN`, `*_SECRET`, `*_KEY` or `*PASSWORD*` whose value is long enough to be
    one (and not a number)."""
    found: list[str] = []
    for name, value in env.items():
        text = value.strip()
        if name.upper() in NAMED:
            if len(text) >= MIN_NAMED:
                found.append(value)
        elif _SECRET_NAME.search(name) and len(text) >= MIN_GUESSED and not text.isdigit():
            found.append(value)
    return found


class Redactor:
    """Replaces every known secret, in every form above, with `***`. Callable on text;
    `line` for one line of live output; `secrets` for the runner's `add-mask`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        values: dict[str, None] = {}
        for secret in secrets:
            # A multi-line secret (a key file) is also masked line by line, as logs are.
            for part in (secret, *secret.splitlines()):
                value = part.strip()
                if len(value) >= MIN_NAMED:
                    values[value] = None
        self.secrets: tuple[str, ...] = tuple(values)

    @classmethod
    def of(cls, named: Iterable[str], env: Mapping[str, str]) -> Redactor:
        """The secrets the caller names (the Action's inputs) and the environment's."""
        return cls([*named, *secrets_in_env(env)])

    def __bool__(self) -> bool:
        return bool(self.secrets)

    def __repr__(self) -> str:
        return f"Redactor({len(self.secrets)} secrets)"

    @cached_property
    def _literals(self) -> tuple[str, ...]:
        """The encoded forms that are plain substrings, longest first (one may hold another)."""
        forms: set[str] = set()
        for secret in self.secrets:
            forms.update(_literal_forms(secret))
        return tuple(sorted(forms, key=lambda f: (-len(f), f)))

    @cached_property
    def _pattern(self) -> re.Pattern[str] | None:
        """Each secret with room for escapes, entities and breaks between its characters."""
        if not self.secrets:
            return None
        loose = sorted(self.secrets, key=len, reverse=True)
        return re.compile("|".join(_loose(s) for s in loose))

    def __call__(self, text: str) -> str:
        if not self.secrets or not text:
            return text
        # The line breaks inside a match stay, so that a tail keeps its lines.
        for form in self._literals:
            if form in text:
                text = text.replace(form, _masked(form))
        assert self._pattern is not None
        return self._pattern.sub(lambda m: _masked(m[0]), text)

    def found(self, text: str) -> bool:
        """Whether `text` holds a secret in any form."""
        if not self.secrets or not text:
            return False
        if any(form in text for form in self._literals):
            return True
        assert self._pattern is not None
        return self._pattern.search(text) is not None

    def line(self, text: str) -> str:
        """One line of live output: redacted, and cleared of a secret's start at its end or
        a secret's end at its start (a secret split across lines; each is shown alone)."""
        text = self(text)
        # The longest part of any secret at each edge: secrets may share a few characters.
        end = max((_part_at_end(text, s) for s in self.secrets), default=0)
        start = max((_part_at_start(text, s) for s in self.secrets), default=0)
        if start + end >= len(text):
            return MASK if text else text
        if end:
            text = text[:-end] + MASK
        return MASK + text[start:] if start else text


NO_SECRETS = Redactor()


def _masked(found: str) -> str:
    """`***` for each line's part of what was found: the line breaks stay, and every line
    that held a part of a secret shows that it did."""
    parts = _KEPT_BREAKS.split(found)
    breaks = _KEPT_BREAKS.findall(found)
    masked = [MASK if part else "" for part in parts]
    return "".join(m + b for m, b in zip(masked, [*breaks, ""], strict=True))


def _literal_forms(secret: str) -> set[str]:
    forms = {secret, html.escape(secret, quote=True)}
    for encoded in (quote(secret, safe=""), quote(secret), quote_plus(secret)):
        forms.add(encoded)
        forms.add(re.sub(r"%[0-9A-F]{2}", lambda m: m[0].lower(), encoded))
    forms.add(json.dumps(secret)[1:-1])
    forms.add(json.dumps(secret, ensure_ascii=False)[1:-1])
    raw = secret.encode()
    for offset in range(3):
        core = _base64_core(raw, offset)
        if len(core) >= _MIN_BASE64:
            forms.add(core)
            forms.add(core.replace("+", "-").replace("/", "_"))
    return {f for f in forms if len(f) >= MIN_NAMED}


def _base64_core(raw: bytes, offset: int) -> str:
    """The base64 characters that only `raw`'s own bits decide when it starts `offset` bytes
    into the encoded data: whatever precedes or follows it (`x-access-token:`), these are in
    the encoding, and what is left outside them is a few bits of the secret."""
    padded = b"\0" * offset + raw + b"\0" * (-(offset + len(raw)) % 3)
    encoded = base64.b64encode(padded).decode()
    first = -(-8 * offset // 6)  # the first character whose 6 bits all fall in `raw`
    last = 8 * (offset + len(raw)) // 6  # one past the last such character
    return encoded[first:last]


def _loose(secret: str) -> str:
    """Each character as written, escaped or encoded, with room for a break after it."""
    return f"(?:{_BREAK})?".join(_atom(c) for c in secret)


def _atom(char: str) -> str:
    options = [re.escape(char), *(re.escape(e) for e in _ENTITIES.get(char, ()))]
    if char == "\n":
        options += [r"\r\n", r"\\n", r"\\r\\n"]
    elif char == "\r":
        options.append(r"\\r")
    elif char == "\t":
        options.append(r"\\t")
    elif not char.isascii():
        options.append(re.escape(json.dumps(char)[1:-1]))
    if char == " ":
        options.append(r"\+")
    # Percent-encoded, whole or in part, in either case (`%5F`, `%5f`).
    options.append("".join(f"%(?i:{b:02X})" for b in char.encode()))
    atom = options[0] if len(options) == 1 else f"(?:{'|'.join(options)})"
    # Markdown and JSON put a backslash before punctuation (`\_`, `\"`, `\\`).
    return rf"\\?{atom}" if char in _PUNCTUATION else atom


def _part_at_end(text: str, secret: str) -> int:
    """The length of the longest start of `secret` (not all of it) that ends `text`."""
    edge = text[-FRAGMENT:]
    if len(edge) < FRAGMENT or edge not in secret:
        return 0  # the common case, decided without a loop
    best, at = 0, secret.find(edge)
    while at != -1:
        size = at + FRAGMENT  # `edge` ends secret[:size]
        if size < len(secret) and text.endswith(secret[:size]):
            best = size
        at = secret.find(edge, at + 1)
    return best


def _part_at_start(text: str, secret: str) -> int:
    """The length of the longest end of `secret` (not all of it) that starts `text`."""
    edge = text[:FRAGMENT]
    if len(edge) < FRAGMENT or edge not in secret:
        return 0
    best, at = 0, secret.rfind(edge)
    while at != -1:
        size = len(secret) - at  # `edge` starts secret[-size:]
        if at > 0 and text.startswith(secret[at:]):
            best = size
        at = secret.rfind(edge, 0, at + FRAGMENT - 1)
    return best
