"""Datadog's experiment-records query language, over the gate's columnar data. Pure.

Datadog's experiments UI filters records with search terms such as
`@evaluations.custom.judge:positive`, `@trace.total_tokens:>1000` or `difficulty:hard`; a
multi-run experiment's records with `@multi_run_avg.` (scores and booleans: the average over
the record's runs) and `@multi_run_mode.` (categories: the most frequent value over them).
Terms are joined by AND. A query that mixes multi-run terms with plain row-level terms is
refused, as Datadog refuses it: a multi-run term speaks of a record over all its runs, a
plain one of one run, and the query does not say which. docs/query.md is the reference.

`parse` turns the text into a `Query` (or raises `QueryError`, which knows the 1-based column
and what was expected there); `select` evaluates it over an `ExperimentData` into a
`Selection` (row indices, and the records they belong to); `restrict` slices an
`ExperimentData` to those rows. A plain query selects rows (record x run); a multi-run query
selects records, and with them every row of theirs.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal, get_args

import numpy as np

from driftgate.errors import UsageError

if TYPE_CHECKING:
    import numpy.typing as npt

    from driftgate.experiments.models import (
        BoolArray,
        EvaluatorColumn,
        ExperimentData,
        FloatArray,
    )

__all__ = [
    "MIXED_RUNS",
    "Query",
    "QueryError",
    "Selection",
    "Term",
    "parse",
    "restrict",
    "select",
]

Aggregate = Literal["avg", "mode"]
Kind = Literal["custom", "summary", "trace", "status", "tag"]
Op = Literal["=", ">", ">=", "<", "<="]
OPS: tuple[Op, ...] = get_args(Op)
_BY_LENGTH: tuple[Op, ...] = (">=", "<=", ">", "<")  # the longest first

TRACE_COLUMNS = (
    "total_tokens",
    "input_tokens",
    "output_tokens",
    "estimated_total_cost",
    "duration",
)
"""The `@trace.` columns the gate reads (tokens, Datadog's estimated cost, the task's
duration); `@duration` is `@trace.duration`."""
STATUSES = ("ok", "error")
_PREFIXES: dict[str, Aggregate] = {"@multi_run_avg.": "avg", "@multi_run_mode.": "mode"}
_ATTRIBUTES = (
    "@evaluations.custom.NAME, @evaluations.summary.NAME, "
    f"@trace.{{{','.join(TRACE_COLUMNS)}}}, @duration, @status, or a tag as key:value"
)
# A number as typed: a sign, digits with an optional fraction (or a fraction alone), an
# exponent. Not Python's float() syntax, which also takes "nan", "inf" and "1_000".
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_DURATION = re.compile(rf"({_NUMBER.pattern})(ns|us|µs|ms|s|m|h)?")
_NS_PER = {"ns": 1.0, "us": 1e3, "µs": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9, "h": 3600e9}
_TAG_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_.\-/]*")
# A value typed bare must not hold these, else it is quoted when rendered.
_BARE = re.compile(r'[^\s"\\()]+')

MIXED_RUNS = (
    "queries that mix @multi_run_avg./@multi_run_mode. columns with plain columns "
    "(@trace., @evaluations., @duration, @status, run_iteration) are not supported, as in "
    "Datadog: a multi-run term asks about a record over all its runs, a plain one about a "
    "single run, and the query does not say which run (as in "
    "`@multi_run_avg.@trace.total_tokens:>1000 @trace.estimated_total_cost:>0.01`); make "
    "every column multi-run, or make every column plain and pick a run with run_iteration:N"
)


class QueryError(UsageError, ValueError):
    """A query that cannot be read or evaluated: where (the 1-based column) and what was
    expected there. `str()` is one line; `render()` adds the query with a caret under the
    column."""

    def __init__(self, query: str, column: int, message: str) -> None:
        self.query = query
        self.column = column
        self.message = message
        super().__init__(f"column {column}: {message}")

    def render(self, indent: str = "  ") -> str:
        """The message, then the query and a caret under the column (control characters
        shown as spaces, so that the caret stays under them)."""
        shown = "".join(" " if not c.isprintable() else c for c in self.query)
        return f"{self}\n{indent}{shown}\n{indent}{' ' * (self.column - 1)}^"


@dataclass(frozen=True, slots=True)
class Term:
    """One search term: `[@multi_run_avg.|@multi_run_mode.]ATTRIBUTE:[OP]VALUE`."""

    aggregate: Aggregate | None
    kind: Kind
    name: str
    """The evaluator's label, the `@trace.` column, `status`, or the tag's key."""
    op: Op
    value: str
    """As typed (unquoted and unescaped)."""
    quoted: bool = False
    number: float | None = None
    """The value as a number, when it is one typed bare (durations in nanoseconds)."""
    column: int = 0
    """Where the term starts in the query (1-based); 0 when built, not parsed."""

    @property
    def attribute(self) -> str:
        if self.kind == "custom":
            return f"@evaluations.custom.{_escape_name(self.name)}"
        if self.kind == "summary":
            return f"@evaluations.summary.{_escape_name(self.name)}"
        if self.kind == "trace":
            return f"@trace.{self.name}"
        if self.kind == "status":
            return "@status"
        return self.name

    def __str__(self) -> str:
        prefix = next((p for p, a in _PREFIXES.items() if a == self.aggregate), "")
        return f"{prefix}{self.attribute}:{_op(self.op)}{_render_value(self.value, self.quoted)}"

    @property
    def plain_row_level(self) -> bool:
        """A term about one run of a record: what a multi-run query cannot hold."""
        if self.aggregate is not None:
            return False
        return self.kind != "tag" or self.name == "run_iteration"


@dataclass(frozen=True, slots=True)
class Query:
    text: str
    terms: tuple[Term, ...]

    @property
    def multi_run(self) -> bool:
        """Selects records over their runs (a `@multi_run_*` term) rather than rows."""
        return any(t.aggregate is not None for t in self.terms)

    @property
    def tag_keys(self) -> tuple[str, ...]:
        """The dataset tags the query reads (not `run_iteration` and `dataset_record_id`,
        which every row has)."""
        keys = (t.name for t in self.terms if t.kind == "tag" and t.name not in _ROW_TAGS)
        return tuple(dict.fromkeys(keys))

    def __str__(self) -> str:
        """The query in its canonical form: terms apart by one space; parses to the same."""
        return " ".join(str(t) for t in self.terms)


_ROW_TAGS = ("run_iteration", "dataset_record_id")


@dataclass(frozen=True, slots=True)
class Selection:
    """What a query matched in one `ExperimentData`.

    `rows` are row indices, ascending (for a multi-run query every row of each matching
    record); `records` the matching records' keys in their first row's order. `restrict`
    takes `rows`."""

    rows: npt.NDArray[np.intp]
    records: tuple[str, ...]
    multi_run: bool


# ---------------------------------------------------------------------------------- parsing


def parse(text: str) -> Query:
    """`text` as a query; `QueryError` at the first thing that is not one. An empty query
    (or only spaces) has no terms and matches every row."""
    terms: list[Term] = []
    pos, end = 0, len(text)
    while True:
        while pos < end and text[pos].isspace():
            pos += 1
        if pos >= end:
            break
        term, pos = _term(text, pos)
        if term is not None:
            terms.append(term)
    query = Query(text, tuple(terms))
    _check_mix(query)
    return query


def _fail(text: str, pos: int, message: str) -> QueryError:
    return QueryError(text, pos + 1, message)


def _term(text: str, start: int) -> tuple[Term | None, int]:
    """The term at `start` (None for an `AND`), and where the next one may start."""
    first = text[start]
    if first == '"':
        raise _fail(
            text, start, f"expected an attribute ({_ATTRIBUTES}); free-text search is not supported"
        )
    if first in "()":
        raise _fail(
            text, start, "expected a term: parentheses are not supported (terms are joined by AND)"
        )
    if first == "-":
        raise _fail(text, start, "expected a term: negation (-term, NOT) is not supported")
    # The attribute: up to the first ':' that is not escaped.
    pos, end, name = start, len(text), []
    while pos < end and text[pos] != ":" and not text[pos].isspace():
        if text[pos] == "\\" and pos + 1 < end:
            pos += 1
        name.append(text[pos])
        pos += 1
    word = text[start:pos]
    if pos >= end or text[pos] != ":":
        if word == "AND":
            return None, pos
        if word in ("OR", "NOT"):
            raise _fail(
                text, start, f"expected a term: {word} is not supported (terms are joined by AND)"
            )
        raise _fail(text, pos, f"expected ':' and a value after {word!r} (as in {word}:value)")
    aggregate, kind, key = _attribute(text, start, word, "".join(name))
    pos += 1
    op: Op = "="
    for candidate in _BY_LENGTH:
        if text.startswith(candidate, pos):
            op = candidate
            pos += len(candidate)
            break
    value_at = pos
    value, quoted, pos = _value(text, pos)
    term = Term(aggregate, kind, key, op, value, quoted, column=start + 1)
    return _typed(text, value_at, term), pos


def _attribute(text: str, start: int, word: str, name: str) -> tuple[Aggregate | None, Kind, str]:
    aggregate: Aggregate | None = None
    rest, at = name, start
    for prefix, agg in _PREFIXES.items():
        if rest.startswith(prefix):
            aggregate, rest, at = agg, rest[len(prefix) :], start + len(prefix)
            break
    if aggregate is not None and any(rest.startswith(p) for p in _PREFIXES):
        raise _fail(text, at, "expected a column after the multi-run prefix, not another prefix")
    for kind, prefix in (("custom", "@evaluations.custom."), ("summary", "@evaluations.summary.")):
        if rest.startswith(prefix):
            label = rest[len(prefix) :]
            if not label:
                raise _fail(text, at + len(prefix), f"expected an evaluator's name after {prefix}")
            return aggregate, kind, label  # type: ignore[return-value]
    if rest.startswith("@trace."):
        column = rest[len("@trace.") :]
        if column not in TRACE_COLUMNS:
            raise _fail(
                text,
                at + len("@trace."),
                f"expected a @trace. column ({', '.join(TRACE_COLUMNS)}), not {column!r}",
            )
        return aggregate, "trace", column
    if rest == "@duration":
        return aggregate, "trace", "duration"
    if rest == "@status":
        return aggregate, "status", "status"
    if rest.startswith("@") or aggregate is not None:
        what = "a column" if aggregate is None else "a column after the multi-run prefix"
        raise _fail(text, at, f"expected {what} ({_ATTRIBUTES}), not {rest or word!r}")
    if not _TAG_KEY.fullmatch(rest) or rest != word:
        raise _fail(
            text,
            start,
            f"expected an attribute ({_ATTRIBUTES}); {word!r} is not a tag key (letters, "
            "digits and _ . - /, starting with a letter)",
        )
    return None, "tag", rest


def _value(text: str, pos: int) -> tuple[str, bool, int]:
    """The value at `pos`: a quoted string (`\\"` and `\\\\` escape), or a bare word up to
    the next space."""
    end = len(text)
    if pos >= end or text[pos].isspace():
        raise _fail(
            text, pos, "expected a value after ':' (a number, a word or a \"quoted value\")"
        )
    if text[pos] == '"':
        chars, i = [], pos + 1
        while i < end and text[i] != '"':
            if text[i] == "\\" and i + 1 < end:
                i += 1
            chars.append(text[i])
            i += 1
        if i >= end:
            raise _fail(
                text, end, f"expected a closing '\"' for the value opened at column {pos + 1}"
            )
        i += 1
        if i < end and not text[i].isspace():
            raise _fail(text, i, "expected a space after the quoted value")
        return "".join(chars), True, i
    chars, i = [], pos
    while i < end and not text[i].isspace():
        c = text[i]
        if c == '"':
            raise _fail(text, i, "expected a space or the end of the query: quote the whole value")
        if c in "()":
            raise _fail(
                text, i, "expected a value: parentheses are not supported (quote the value)"
            )
        if c == "*":
            raise _fail(
                text, i, "expected a value: wildcards are not supported (quote a literal *)"
            )
        if c == "\\" and i + 1 < end:
            i += 1
            c = text[i]
        chars.append(c)
        i += 1
    return "".join(chars), False, i


def _typed(text: str, at: int, term: Term) -> Term:
    """The term with its value read as the column's kind allows (what can be checked
    before the data is seen: the evaluators' types are known only then). `at` is where the
    value starts."""
    op_at, start = at - len(_op(term.op)), term.column - 1
    if term.kind == "summary" and term.aggregate is not None:
        raise _fail(
            text,
            start,
            "expected a plain @evaluations.summary. column: a summary evaluation has one value "
            "per run, not per record",
        )
    if term.kind == "status" and term.aggregate is not None:
        raise _fail(
            text, start, "expected a plain @status: a run's status has no multi-run average or mode"
        )
    if term.aggregate == "mode" and term.kind == "trace":
        raise _fail(
            text,
            start,
            f"expected @multi_run_avg. for {term.attribute}: a number has an average over the "
            "runs, not a mode",
        )
    if term.op != "=" and (term.aggregate == "mode" or term.kind == "status"):
        raise _fail(
            text,
            op_at,
            "expected a value after ':', not an operator: "
            + ("a status" if term.kind == "status" else "@multi_run_mode. matches a value")
            + " has no order",
        )
    if term.op != "=" and term.kind == "tag" and term.name != "run_iteration":
        raise _fail(
            text,
            op_at,
            f"expected a value after ':', not an operator: tags match by equality "
            f"({term.name}:value)",
        )
    if term.kind == "status" and (term.quoted or term.value.lower() not in STATUSES):
        raise _fail(text, at, f"expected @status:ok or @status:error, not {term.value!r}")
    numeric = term.kind == "trace" or term.name == "run_iteration"
    if term.quoted:
        if term.op != "=" or numeric or term.aggregate == "avg":
            raise _fail(text, at, f"expected a number for {term.attribute}, not a quoted value")
        return term
    number: float | None = None
    if term.kind == "trace" and term.name == "duration":
        match = _DURATION.fullmatch(term.value)
        if match:
            number = float(match.group(1)) * _NS_PER[match.group(2) or "ns"]
    elif _NUMBER.fullmatch(term.value):
        number = float(term.value)
    if number is not None and not math.isfinite(number):
        raise _fail(text, at, f"expected a finite number, not {term.value!r}")
    if number is None and (term.op != "=" or numeric):
        unit = " (a duration may end in ns, us, ms, s, m or h)" if term.name == "duration" else ""
        raise _fail(
            text,
            at,
            f"expected a number after '{term.attribute}:{_op(term.op)}'{unit}, not {term.value!r}",
        )
    if term.aggregate == "avg" and number is None:
        raise _fail(
            text, at, f"expected a number: @multi_run_avg. is an average, not {term.value!r}"
        )
    return replace(term, number=number)


def _op(op: Op) -> str:
    return "" if op == "=" else op


def _check_mix(query: Query) -> None:
    if not query.multi_run:
        return
    for term in query.terms:
        if term.plain_row_level:
            raise QueryError(query.text, term.column, MIXED_RUNS)


def _escape_name(name: str) -> str:
    return re.sub(r'([:\s\\"()])', r"\\\1", name)


def _render_value(value: str, quoted: bool) -> str:
    if not quoted and _BARE.fullmatch(value) and "*" not in value:
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


# ------------------------------------------------------------------------------- evaluation


def select(
    query: Query | str,
    data: ExperimentData,
    tags: Sequence[Sequence[str]] | None = None,
) -> Selection:
    """The rows (or, for a multi-run query, the records) of `data` that match `query`.

    `tags` are each row's dataset record tags (`key:value`), aligned with the rows; None when
    the read did not give them (a tag term then matches nothing). `QueryError` when a term
    names an evaluator `data` does not have, or asks a column for what its type cannot
    answer (a category compared with >, a score matched against a word)."""
    if isinstance(query, str):
        query = parse(query)
    if tags is not None and len(tags) != data.rows:
        raise ValueError(f"tags has {len(tags)} entries for {data.rows} rows")
    keys = data.record_key
    if not query.multi_run:
        mask = np.ones(data.rows, dtype=np.bool_)
        for term in query.terms:
            mask &= _row_match(query, term, data, tags)
        rows = np.flatnonzero(mask)
        return Selection(rows, tuple(dict.fromkeys(keys[i] for i in rows)), multi_run=False)
    groups = _Groups(keys)
    matched = np.ones(len(groups.keys), dtype=np.bool_)
    for term in query.terms:
        matched &= _record_match(query, term, data, tags, groups)
    rows = np.flatnonzero(matched[groups.of_row])
    return Selection(rows, tuple(k for k, m in zip(groups.keys, matched, strict=True) if m), True)


class _Groups:
    """The rows of each record, records in the order of their first row."""

    def __init__(self, keys: Sequence[str]) -> None:
        index: dict[str, int] = {}
        of_row = np.fromiter((index.setdefault(k, len(index)) for k in keys), np.intp, len(keys))
        self.keys = list(index)
        self.of_row = of_row

    def mean(self, values: FloatArray) -> FloatArray:
        """Each record's mean over its rows that have a value; NaN when none has."""
        present = ~np.isnan(values)
        n = len(self.keys)
        sums = np.bincount(self.of_row[present], weights=values[present], minlength=n)
        counts = np.bincount(self.of_row[present], minlength=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)

    def modes(self, values: Sequence[str | None]) -> list[frozenset[str]]:
        """Each record's most frequent values (all of them on a tie; none without values)."""
        counts: list[Counter[str]] = [Counter() for _ in self.keys]
        for group, value in zip(self.of_row.tolist(), values, strict=True):
            if value is not None:
                counts[group][value] += 1
        out = []
        for counter in counts:
            top = max(counter.values(), default=0)
            out.append(frozenset(v for v, c in counter.items() if c == top))
        return out


def _compare(values: FloatArray, op: Op, number: float) -> BoolArray:
    # NaN (no value) compares false under every operator: missing never matches.
    with np.errstate(invalid="ignore"):
        if op == "=":
            return np.equal(values, number)
        if op == ">":
            return values > number
        if op == ">=":
            return values >= number
        if op == "<":
            return values < number
        return values <= number


def _bool_value(term: Term) -> float | None:
    lowered = term.value.lower()
    if not term.quoted and lowered in ("true", "false"):
        return 1.0 if lowered == "true" else 0.0
    return None


def _evaluator(query: Query, term: Term, data: ExperimentData) -> EvaluatorColumn:
    column = data.evaluators.get(term.name)
    if column is None:
        known = ", ".join(sorted(data.evaluators)) or "none"
        raise QueryError(
            query.text,
            term.column,
            f"expected an evaluator of this experiment after @evaluations.custom. (it has: "
            f"{known}), not {term.name!r}",
        )
    if column.metric_type == "json":
        raise QueryError(
            query.text, term.column, f"{term.name!r} is a json evaluation: it cannot be searched"
        )
    return column


def _type_error(query: Query, term: Term, kind: str, expected: str) -> QueryError:
    return QueryError(
        query.text,
        term.column,
        f"{term.name!r} is a {kind} evaluation: expected {expected}, not {term.value!r}",
    )


def _numbers_match(query: Query, term: Term, values: FloatArray, kind: str) -> BoolArray:
    """A boolean (as 0/1, or true/false) or a score column against the term's value."""
    if kind == "boolean" and term.op == "=":
        wanted = _bool_value(term)
        if wanted is not None:
            return np.equal(values, wanted)
    if term.number is None:
        expected = "true, false or a number" if kind == "boolean" else "a number"
        raise _type_error(query, term, kind, expected)
    return _compare(values, term.op, term.number)


def _row_match(
    query: Query, term: Term, data: ExperimentData, tags: Sequence[Sequence[str]] | None
) -> BoolArray:
    if term.kind == "custom":
        column = _evaluator(query, term, data)
        if column.metric_type == "categorical":
            if term.op != "=":
                raise _type_error(query, term, "categorical", "a value to match (no order)")
            wanted = term.value
            return np.fromiter((c == wanted for c in column.category or ()), np.bool_, data.rows)
        return _numbers_match(query, term, column.value, column.metric_type)
    if term.kind == "trace":
        assert term.number is not None  # parse checked it
        return _compare(_trace_column(data, term.name), term.op, term.number)
    if term.kind == "status":
        wants_error = term.value.lower() == "error"
        return data.task_error.copy() if wants_error else ~data.task_error
    if term.kind == "summary":
        return _summary_match(query, term, data)
    return _tag_match(term, data, tags)


def _trace_column(data: ExperimentData, name: str) -> FloatArray:
    columns = {
        "total_tokens": data.total_tokens,
        "input_tokens": data.input_tokens,
        "output_tokens": data.output_tokens,
        "estimated_total_cost": data.cost,
        "duration": data.duration_ns,
    }
    return columns[name]


def _summary_match(query: Query, term: Term, data: ExperimentData) -> BoolArray:
    """Rows whose run's summary evaluation `term.name` matches (a summary without its run
    number belongs to no row)."""
    found = [s for s in data.summaries if s.label == term.name]
    if not found:
        known = ", ".join(sorted({s.label for s in data.summaries})) or "none"
        raise QueryError(
            query.text,
            term.column,
            f"expected a summary evaluator of this experiment after @evaluations.summary. "
            f"(it has: {known}), not {term.name!r}",
        )
    matching_runs = []
    for summary in found:
        if summary.run is None or summary.error is not None or summary.value is None:
            continue
        if summary.metric_type == "categorical":
            if term.op != "=":
                raise _type_error(query, term, "categorical", "a value to match (no order)")
            hit = str(summary.value) == term.value
        elif summary.metric_type == "json":
            raise QueryError(
                query.text,
                term.column,
                f"{term.name!r} is a json evaluation: it cannot be searched",
            )
        else:
            value = summary.value
            if isinstance(value, bool):
                number = 1.0 if value else 0.0
            elif isinstance(value, int | float):
                number = float(value)
            else:
                continue
            hit = bool(_numbers_match(query, term, np.array([number]), summary.metric_type)[0])
        if hit:
            matching_runs.append(summary.run)
    return np.isin(data.run_iteration, np.array(matching_runs, dtype=np.int32))


def _tag_match(term: Term, data: ExperimentData, tags: Sequence[Sequence[str]] | None) -> BoolArray:
    if term.name == "run_iteration":
        assert term.number is not None
        return _compare(data.run_iteration.astype(np.float64), term.op, term.number)
    if term.name == "dataset_record_id":
        return np.fromiter((k == term.value for k in data.record_key), np.bool_, data.rows)
    if tags is None:
        return np.zeros(data.rows, dtype=np.bool_)
    # Datadog keeps tags lowercased: a tag matches whatever its case as typed.
    wanted = f"{term.name}:{term.value}".lower()
    return np.fromiter((any(t.lower() == wanted for t in row) for row in tags), np.bool_, data.rows)


def _record_match(
    query: Query,
    term: Term,
    data: ExperimentData,
    tags: Sequence[Sequence[str]] | None,
    groups: _Groups,
) -> BoolArray:
    if term.aggregate is None:
        # A dataset tag (the mix check let no other plain term through): a record has it
        # when any of its rows does.
        rows = _tag_match(term, data, tags)
        return np.bincount(groups.of_row[rows], minlength=len(groups.keys)) > 0
    if term.kind == "trace":
        assert term.number is not None
        means = groups.mean(_trace_column(data, term.name))
        return _compare(means, term.op, term.number)
    column = _evaluator(query, term, data)
    if term.aggregate == "avg":
        if column.metric_type == "categorical":
            raise QueryError(
                query.text,
                term.column,
                f"{term.name!r} is a categorical evaluation: it has no average; use "
                f"@multi_run_mode.@evaluations.custom.{term.name}:VALUE",
            )
        return _numbers_match(query, term, groups.mean(column.value), column.metric_type)
    if column.metric_type == "score":
        raise QueryError(
            query.text,
            term.column,
            f"{term.name!r} is a score evaluation: it has no mode; use "
            f"@multi_run_avg.@evaluations.custom.{term.name}:>N",
        )
    if column.metric_type == "boolean":
        wanted = _bool_value(term)
        if wanted is None:
            raise _type_error(query, term, "boolean", "true or false")
        labels: list[str | None] = [
            None if math.isnan(v) else ("true" if v else "false") for v in column.value.tolist()
        ]
        target = "true" if wanted else "false"
    else:
        labels, target = list(column.category or [None] * data.rows), term.value
    return np.fromiter((target in m for m in groups.modes(labels)), np.bool_, len(groups.keys))


# ------------------------------------------------------------------------------ restricting


def restrict(
    data: ExperimentData, rows: Sequence[int] | npt.NDArray[np.intp], note: str | None = None
) -> ExperimentData:
    """`data` with only `rows` (indices, as `Selection.rows` gives them), every column sliced.

    Summary evaluations stay those of the runs left (each is its run's, over all its
    records: a query does not recompute them). The dataset's record count is no longer what
    the rows should cover, so it is dropped (None: not known). `note` is added to the notes,
    for a report to say how the data was restricted."""
    index = np.asarray(rows, dtype=np.intp)
    picked = index.tolist()

    def pick(values: Sequence[str | None]) -> list[str | None]:
        return [values[i] for i in picked]

    def pick_text(values: Sequence[str]) -> list[str]:
        return [values[i] for i in picked]

    evaluators = {
        label: replace(
            column,
            value=column.value[index],
            passed=column.passed[index],
            errored=column.errored[index],
            category=None if column.category is None else pick(column.category),
        )
        for label, column in data.evaluators.items()
    }
    runs = set(data.run_iteration[index].tolist())
    return replace(
        data,
        record_key=pick_text(data.record_key),
        run_iteration=data.run_iteration[index],
        task_error=data.task_error[index],
        error_message=pick(data.error_message),
        duration_ns=data.duration_ns[index],
        input_tokens=data.input_tokens[index],
        output_tokens=data.output_tokens[index],
        total_tokens=data.total_tokens[index],
        cost=data.cost[index],
        input_text=pick_text(data.input_text),
        expected_text=pick_text(data.expected_text),
        output_text=pick_text(data.output_text),
        evaluators=evaluators,
        summaries=[s for s in data.summaries if s.run is None or s.run in runs],
        notes=(*data.notes, note) if note else data.notes,
        dataset_records=None,
        record_tags=None if data.record_tags is None else [data.record_tags[i] for i in picked],
    )
