"""Reading queries: numbers as typed, errors at their column with what was expected, any
text either a query or a `QueryError`, and generated queries that round-trip."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from driftgate.query import TRACE_COLUMNS, Query, QueryError, Term, parse


def term(text: str) -> Term:
    (only,) = parse(text).terms
    return only


@pytest.mark.parametrize(
    ("typed", "number"),
    [("1e3", 1000.0), ("-0.5", -0.5), (".5", 0.5), ("+2", 2.0), ("1.", 1.0), ("2E-2", 0.02)],
)
def test_numbers_as_typed(typed: str, number: float) -> None:
    assert term(f"@trace.total_tokens:>{typed}").number == number
    assert term(f"@evaluations.custom.score:{typed}").number == number


@pytest.mark.parametrize("typed", ["nan", "inf", "1_000", "0x10", "1e", "--1", "1e999"])
def test_what_only_pythons_float_reads_is_not_a_number(typed: str) -> None:
    with pytest.raises(QueryError, match="number") as caught:
        parse(f"@trace.total_tokens:>{typed}")
    assert caught.value.column == len("@trace.total_tokens:>") + 1


def test_durations_are_nanoseconds_with_units() -> None:
    assert term("@duration:>=9.5s").number == 9.5e9
    assert term("@trace.duration:<250ms").number == 250e6
    assert term("@trace.duration:<3us").number == term("@trace.duration:<3µs").number == 3e3
    assert term("@duration:1h").number == 3600e9
    assert term("@duration:42").number == 42
    with pytest.raises(QueryError, match="ns, us, ms, s, m or h"):
        parse("@duration:>9.5sec")
    with pytest.raises(QueryError, match="number"):
        parse("@trace.total_tokens:>5s")


def test_quoted_values_keep_spaces_and_escapes() -> None:
    found = term(r'@evaluations.custom.judge:"very \"good\" \\ indeed"')
    assert found.value == 'very "good" \\ indeed'
    assert found.quoted
    assert found.number is None
    assert str(found) == r'@evaluations.custom.judge:"very \"good\" \\ indeed"'


def test_escaped_names_hold_colons_and_spaces() -> None:
    found = term(r"@evaluations.custom.my\ judge\:v2:ok")
    assert found.name == "my judge:v2"
    assert str(found) == r"@evaluations.custom.my\ judge\:v2:ok"


@pytest.mark.parametrize(
    ("query", "column", "expected"),
    [
        ("@trace.total_tokens:>", 22, "expected a value after ':'"),
        ("@trace.total_tokens: 5", 21, "expected a value after ':'"),
        ("@trace.total_tokens", 20, "expected ':' and a value"),
        ("@trace.tokens:>5", 8, "expected a @trace. column (total_tokens"),
        ("run_iteration:1 @trace.cost:1", 24, "expected a @trace. column"),
        ("@evaluations.custom.:1", 21, "expected an evaluator's name"),
        ("@evaluations.judge:1", 1, "expected a column"),
        ("@multi_run_avg.difficulty:hard", 16, "after the multi-run prefix"),
        ("@multi_run_avg.@multi_run_mode.@trace.duration:1", 16, "not another prefix"),
        ("@multi_run_mode.@trace.total_tokens:>5", 1, "expected @multi_run_avg. for @trace"),
        ("@multi_run_mode.@evaluations.custom.x:>5", 39, "no order"),
        ("@multi_run_avg.@evaluations.custom.x:good", 38, "is an average"),
        ("@multi_run_avg.@evaluations.summary.acc:>1", 1, "one value per run"),
        ("@multi_run_avg.@status:error", 1, "no multi-run average"),
        ("@status:broken", 9, "@status:ok or @status:error"),
        ("difficulty:>hard", 12, "tags match by equality"),
        ("@status:>1", 9, "a status has no order"),
        ('judge:"open', 12, "expected a closing '\"' for the value opened at column 7"),
        ('judge:"a"b', 10, "expected a space after the quoted value"),
        ('judge:a"b"', 8, "quote the whole value"),
        ("judge:a* x:1", 8, "wildcards are not supported"),
        ("a:1 OR b:2", 5, "OR is not supported"),
        ("NOT a:1", 1, "NOT is not supported"),
        ("-a:1", 1, "negation"),
        ("(a:1)", 1, "parentheses"),
        ('"free text"', 1, "free-text search is not supported"),
        ("9lives:1", 1, "not a tag key"),
        ("run_iteration:first", 15, "expected a number"),
        ('run_iteration:"1"', 15, "not a quoted value"),
    ],
)
def test_a_malformed_query_names_its_column_and_what_was_expected(
    query: str, column: int, expected: str
) -> None:
    with pytest.raises(QueryError) as caught:
        parse(query)
    assert caught.value.column == column, caught.value
    assert expected in caught.value.message
    assert str(caught.value).startswith(f"column {column}: ")


def test_the_error_renders_as_one_line_then_a_caret_under_the_query() -> None:
    with pytest.raises(QueryError) as caught:
        parse("run_iteration:1 @trace.total_tokens:>lots")
    message, query, caret = caught.value.render().split("\n")
    assert message == "column 38: expected a number after '@trace.total_tokens:>', not 'lots'"
    assert query == "  run_iteration:1 @trace.total_tokens:>lots"
    assert caret == "  " + " " * 37 + "^"
    assert query[caret.index("^")] == "l"


def test_the_caret_stays_under_a_tab() -> None:
    with pytest.raises(QueryError) as caught:
        parse("a:1\t@x:1")
    _, query, caret = caught.value.render(indent="").split("\n")
    assert query == "a:1 @x:1"
    assert query[caret.index("^")] == "@"


def _error_of(text: str) -> QueryError | None:
    """The error `text` raises, None when it is a query (anything else fails the test)."""
    try:
        parse(text)
    except QueryError as exc:
        return exc
    return None


@given(st.text(alphabet=st.sampled_from('@:.>=<"\\ \t()-*abcAND_ORmulti_run_avg1e5'), max_size=40))
def test_any_text_is_a_query_or_a_query_error(text: str) -> None:
    error = _error_of(text)
    if error is not None:
        assert 1 <= error.column <= len(text) + 1
        assert "\n" not in str(error)
        _, shown, caret = error.render(indent="").split("\n")
        assert len(shown) == len(text)
        assert len(caret) == error.column


@given(st.text(max_size=60))
def test_any_unicode_text_is_a_query_or_a_query_error(text: str) -> None:
    error = _error_of(text)
    if error is not None:
        assert 1 <= error.column <= len(text) + 1


# -- generated queries round-trip -----------------------------------------------------------

_words = st.from_regex(r"[a-z][a-z0-9_.\-]{0,8}", fullmatch=True).filter(
    lambda w: w not in ("true", "false")
)
_labels = st.text(alphabet=st.sampled_from('abz_-.:9 \\"()'), min_size=1, max_size=10).filter(
    lambda s: not s.startswith(("@", "custom.", "summary."))
)
_numbers = st.one_of(
    st.integers(-5000, 5000).map(str),
    st.sampled_from(["1e3", "-0.5", ".5", "+2", "1.", "2.5E-3"]),
)
_strings = st.text(alphabet=st.sampled_from('ab \\"()*:@<>'), min_size=1, max_size=8)
_ops = st.sampled_from(["=", ">", ">=", "<", "<="])


def _term(aggregate: Any, kind: Any, name: str, op: Any, value: str, quoted: bool = False) -> Term:
    return Term(aggregate, kind, name, op, value, quoted)


@st.composite
def plain_terms(draw: st.DrawFn) -> Term:
    kind = draw(st.sampled_from(["custom", "summary", "trace", "status", "tag", "run"]))
    if kind == "trace":
        return _term(
            None, "trace", draw(st.sampled_from(TRACE_COLUMNS)), draw(_ops), draw(_numbers)
        )
    if kind == "status":
        return _term(None, "status", "status", "=", draw(st.sampled_from(["ok", "error"])))
    if kind == "run":
        return _term(None, "tag", "run_iteration", draw(_ops), str(draw(st.integers(1, 9))))
    if kind == "tag":
        if draw(st.booleans()):
            return _term(None, "tag", draw(_words), "=", draw(_strings), quoted=True)
        return _term(None, "tag", draw(_words), "=", draw(_words))
    return _evaluator_term(draw, None, kind)


def _evaluator_term(draw: st.DrawFn, aggregate: Any, kind: Any) -> Term:
    name = draw(_labels)
    if aggregate == "avg" or draw(st.booleans()):
        op = "=" if aggregate == "mode" else draw(_ops)
        return _term(aggregate, kind, name, op, draw(_numbers))
    if draw(st.booleans()):
        return _term(aggregate, kind, name, "=", draw(_strings), quoted=True)
    return _term(aggregate, kind, name, "=", draw(st.one_of(_words, st.just("true"))))


@st.composite
def multi_run_terms(draw: st.DrawFn) -> Term:
    kind = draw(st.sampled_from(["avg", "mode", "trace", "tag"]))
    if kind == "trace":
        return _term(
            "avg", "trace", draw(st.sampled_from(TRACE_COLUMNS)), draw(_ops), draw(_numbers)
        )
    if kind == "tag":
        return _term(
            None, "tag", draw(_words.filter(lambda w: w != "run_iteration")), "=", draw(_words)
        )
    return _evaluator_term(draw, kind, "custom")


queries = st.one_of(
    st.lists(plain_terms(), max_size=5),
    st.lists(multi_run_terms(), min_size=1, max_size=5).filter(
        lambda ts: any(t.aggregate for t in ts)
    ),
)
_spaces = st.sampled_from([" ", "  ", "\t", " AND "])


@given(queries, st.data())
def test_generated_queries_round_trip(terms: list[Term], data: st.DataObject) -> None:
    text = "".join(str(t) + data.draw(_spaces) for t in terms)
    parsed = parse(text)
    assert [replace(t, number=None, column=0) for t in parsed.terms] == terms
    again = parse(str(parsed))
    assert _placeless(again) == _placeless(parsed)
    assert str(again) == str(parsed) == " ".join(str(t) for t in terms)
    for got in parsed.terms:
        assert text[got.column - 1 :].startswith(str(got))


def _placeless(query: Query) -> list[Term]:
    return [replace(t, column=0) for t in query.terms]
