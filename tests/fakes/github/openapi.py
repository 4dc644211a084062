"""GitHub's official REST description (`@octokit/openapi`, api.github.com.deref.json,
OpenAPI 3.0), held against the fake so that it cannot drift from GitHub.

- Every answer the fake gives is matched to the description's operation (method and path
  template) and its body validated against the response schema of its status code. A
  success the description does not list, or a body off its schema, is a `Violation` that
  names the operation and the schema path; the fake fails the test with it.
- Every request body is validated against the operation's request schema: what the
  description refuses, the fake refuses as GitHub does (422 "Invalid request.").

The description (73 MB) is parsed once per process (`description()`), in about 0.6 s with
orjson. Where GitHub's live answers are known to be wider than its description, the
difference is declared in `_ALLOWANCES`, each with the upstream report; nothing else is
relaxed.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from jsonschema.exceptions import ValidationError
from jsonschema.validators import extend
from openapi_schema_validator import (
    OAS30ReadValidator,
    OAS30WriteValidator,
    oas30_format_checker,
)

from tests import references

DESCRIPTION = references.MODULES / references.REST_DESCRIPTION

# (method, path template, status, where in the response schema, what GitHub really sends)
_ALLOWANCES: list[tuple[str, str, str, tuple[str, ...], str]] = [
    # A pull request whose fork was deleted has `head.repo: null`; the description still
    # says a repository is required (github/rest-api-description#424 and #1811).
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}", "200", ("head", "repo"), "nullable"),
    ("get", "/repos/{owner}/{repo}/pulls", "200", ("[]", "head", "repo"), "nullable"),
]


def _null_allowed(keyword: Any) -> Any:
    def check(validator: Any, value: Any, instance: Any, schema: dict[str, Any]) -> Any:
        if instance is None and schema.get("nullable") is True:
            return
        yield from keyword(validator, value, instance, schema)

    return check


def _as_github_reads_nullable(cls: Any) -> Any:
    """`nullable: true` allows null wherever it stands. OpenAPI 3.0.3 gives it effect only
    beside a `type`, and wants null listed in an `enum`; GitHub's description relies on
    the plain reading (a check run's `conclusion`, a commit's `author`), and GitHub sends
    null there."""
    keywords = {k: _null_allowed(cls.VALIDATORS[k]) for k in ("enum", "oneOf", "anyOf", "allOf")}
    return extend(cls, keywords)


_READ = _as_github_reads_nullable(OAS30ReadValidator)
_WRITE = _as_github_reads_nullable(OAS30WriteValidator)


class DescriptionMissing(RuntimeError):
    """GitHub's REST description is not installed."""


@dataclass(frozen=True)
class Violation:
    """An answer of the fake that GitHub's description does not allow."""

    method: str
    path: str
    status: int
    operation: str
    problems: tuple[str, ...]

    def __str__(self) -> str:
        listed = "".join(f"\n  - {p}" for p in self.problems)
        return (
            f"the GitHub fake answered {self.method} {self.path} with {self.status}, which "
            f"GitHub's REST description does not allow ({self.operation}):{listed}"
        )


@dataclass
class Operation:
    method: str
    template: str
    operation_id: str
    # Status code ("200", "default") -> the JSON body's schema; None: no body.
    responses: dict[str, dict[str, Any] | None]
    request: dict[str, Any] | None
    _validators: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return f"{self.operation_id}: {self.method.upper()} {self.template}"

    def validator(self, key: str, schema: dict[str, Any], cls: Any) -> Any:
        if key not in self._validators:
            self._validators[key] = cls(schema, format_checker=oas30_format_checker)
        return self._validators[key]

    def response_problems(self, status: int, body: Any, basic_error: dict[str, Any]) -> list[str]:
        key = str(status)
        if key in self.responses:
            schema = self.responses[key]
        elif f"{key[0]}XX" in self.responses:
            schema = self.responses[f"{key[0]}XX"]
        elif "default" in self.responses:
            schema = self.responses["default"]
        elif status >= 400:
            # GitHub answers errors an operation does not list (rate limits, 5xx, 404 for
            # what the token cannot see), always in its basic error shape.
            return _problems(self.validator("error", basic_error, _READ), body)
        else:
            listed = ", ".join(self.responses)
            return [f"status {status} is not an answer of this operation (it lists {listed})"]
        if schema is None:
            return [] if body is None else [f"status {status} has no body, but one was sent"]
        if body is None:
            return [f"status {status} has a JSON body, but none was sent"]
        return _problems(self.validator(key, schema, _READ), body)


def _problems(validator: Any, body: Any) -> list[str]:
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    return [_describe(error) for error in _leaves(errors)][:12]


def _leaves(errors: list[ValidationError]) -> Iterator[ValidationError]:
    # anyOf/oneOf report one error for the whole; their branches say what is wrong.
    for error in errors:
        if error.context:
            yield from _leaves(sorted(error.context, key=lambda e: list(e.absolute_path)))
        else:
            yield error


def _describe(error: ValidationError) -> str:
    where = "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    schema_path = "/".join(str(p) for p in error.absolute_schema_path)
    message = error.message if len(error.message) < 300 else error.message[:300] + "…"
    return f"body{where}: {message} (schema path: {schema_path})"


def request_refusal(error: ValidationError) -> str:
    """The detail of GitHub's 422 "Invalid request." for a body off its schema."""
    leaf = error
    where = "/".join(f"properties/{p}" if isinstance(p, str) else str(p) for p in leaf.path)
    if leaf.validator == "required":
        missing = re.search(r"'([^']+)' is a required property", leaf.message)
        return f'"{missing[1] if missing else "?"}" wasn\'t supplied.'
    if leaf.validator == "enum":
        members = ", ".join(json.dumps(m) for m in leaf.validator_value)
        return f"For '{where}', {json.dumps(leaf.instance)} is not a member of [{members}]."
    return f"For '{where}', {leaf.message}."


class Description:
    """The operations of GitHub's REST API, findable by method and concrete path."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.version = str(document.get("info", {}).get("version", "?"))
        self._by_length: dict[int, list[tuple[re.Pattern[str], Operation]]] = {}
        # `compare/{basehead}` takes branch names, which may hold slashes (`release/1.x`):
        # GitHub matches the rest of the path there, whatever its segments.
        self._greedy: list[tuple[re.Pattern[str], Operation]] = []
        self.basic_error: dict[str, Any] = {"type": "object"}
        entries: list[tuple[tuple[int, int], re.Pattern[str], Operation]] = []
        for template, item in document["paths"].items():
            for method, raw in item.items():
                if not isinstance(raw, dict) or "responses" not in raw:
                    continue
                operation = _operation(method, template, raw)
                for schema in operation.responses.values():
                    if schema is not None and schema.get("title") == "Basic Error":
                        self.basic_error = schema
                segments = template.strip("/").split("/")
                literal = sum(1 for s in segments if not s.startswith("{"))
                regex = "/" + "/".join(
                    "[^/]+" if s.startswith("{") else re.escape(s) for s in segments
                )
                entries.append(((len(segments), -literal), re.compile(regex), operation))
                if segments[-1] == "{basehead}":
                    self._greedy.append((re.compile(regex.removesuffix("[^/]+") + ".+"), operation))
        # Literal segments win over parameters: `/issues/comments/{id}` over `/issues/{n}/x`.
        for (length, _), pattern, operation in sorted(entries, key=lambda e: e[0]):
            self._by_length.setdefault(length, []).append((pattern, operation))
        for method, template, status, where, keyword in _ALLOWANCES:
            found = self.find(method, template)
            schema = found.responses.get(status) if found is not None else None
            for part in where:
                if schema is not None:
                    items = schema.get("items") if part == "[]" else None
                    schema = items or schema.get("properties", {}).get(part)
            if schema is None:
                raise RuntimeError(
                    f"allowance {method.upper()} {template} {'.'.join(where)}: not in the "
                    "description any more; remove it from _ALLOWANCES"
                )
            schema[keyword] = True

    def find(self, method: str, path: str) -> Operation | None:
        """The operation serving `method path` (a concrete path, or a template)."""
        method = method.lower()
        length = len(path.strip("/").split("/"))
        for pattern, operation in [*self._by_length.get(length, []), *self._greedy]:
            if operation.method == method and pattern.fullmatch(path):
                return operation
        return None

    def check(self, method: str, path: str, status: int, body: Any) -> Violation | None:
        """The answer's violation of the description; None when it conforms."""
        operation = self.find(method, path)
        if operation is None:
            if status >= 400:
                return None  # GitHub's own 404 for what it does not serve
            return Violation(method, path, status, "no such operation", ("GitHub has none",))
        problems = operation.response_problems(status, body, self.basic_error)
        if not problems:
            return None
        return Violation(method, path, status, operation.name, tuple(problems))

    def refuse(self, method: str, path: str, body: Any) -> str | None:
        """Why GitHub would refuse this request body (422); None when it accepts it."""
        operation = self.find(method, path)
        if operation is None or operation.request is None:
            return None
        validator = operation.validator("request", operation.request, _WRITE)
        error = next(_leaves(list(validator.iter_errors(body))), None)
        return None if error is None else request_refusal(error)


def _operation(method: str, template: str, raw: dict[str, Any]) -> Operation:
    responses: dict[str, dict[str, Any] | None] = {}
    for status, answer in raw["responses"].items():
        content = answer.get("content") or {}
        media = content.get("application/json") or next(iter(content.values()), None)
        responses[str(status)] = media.get("schema") if media else None
    request = None
    body = (raw.get("requestBody") or {}).get("content") or {}
    if "application/json" in body:
        request = body["application/json"].get("schema")
    return Operation(method, template, str(raw.get("operationId", "?")), responses, request)


def load(path: Path) -> Description:
    """The description at `path`; DescriptionMissing, saying how to install it, if absent."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DescriptionMissing(
            f"GitHub's REST description is missing ({path}): run "
            f"`{references.INSTALL}` (the GitHub fake validates every answer against it)"
        ) from None
    return Description(orjson.loads(raw))


@functools.cache
def description() -> Description:
    """GitHub's REST description, parsed once per test session."""
    return load(DESCRIPTION)
