"""The store's read-only pages, over HTTP against the real server: the list, an experiment's
rows searched with the query language, hostile text kept as text, errors at their column,
keys; and the page rendered by a real browser (Debian's Chromium, headless)."""

from __future__ import annotations

import html
import re
from pathlib import Path

import httpx
import pytest
from markupsafe import escape

from driftgate.store.server import BackgroundStore
from tests.browser import chromium, png_pixels, screenshot
from tests.storeapi import Api, metric, post_metrics, post_spans, span

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _recorded(url: str) -> str:
    """An experiment of 3 records x 2 runs: tagged records, a boolean and a categorical
    evaluator, tokens, one hostile output. Answers its id."""
    api = Api(url)
    pid = api.project()
    did = api.dataset(pid)["id"]
    inputs = {"r1": "capital of France", "r2": "capital of Peru", "r3": HOSTILE}
    tags = {"r1": "difficulty:hard", "r2": "difficulty:easy", "r3": "difficulty:hard"}
    api.batch(
        pid,
        did,
        insert_records=[{"id": r, "input": {"q": q}, "tags": [tags[r]]} for r, q in inputs.items()],
    )
    eid = str(
        api.experiment(
            pid,
            did,
            "capitals",
            run_count=2,
            metadata={"tags": ["git.branch:feat", "git.commit.sha:0123456789abcdef"]},
        )["id"]
    )
    spans, metrics = [], {1: [], 2: []}  # type: ignore[var-annotated]
    for run in (1, 2):
        for n, record in enumerate(("r1", "r2", "r3")):
            sid = f"s{run}{n}"
            output = HOSTILE if record == "r3" else f"answer {record} run {run}"
            s = span(eid, sid, record, run, metrics={"total_tokens": 100 * (n + 1)})
            s["meta"]["output"] = output
            s["meta"]["input"] = {"q": inputs[record]}
            spans.append(s)
            metrics[run].append(metric(sid, "correct", "boolean", record != "r2" or run == 1))
            metrics[run].append(metric(sid, "tone", "categorical", HOSTILE if n == 2 else "calm"))
    post_spans(api, spans)
    for run in (1, 2):
        post_metrics(api, eid, metrics[run], run)
    api.patch(eid, status="completed")
    return eid


def _rows(page: str) -> int:
    return len(re.findall(r"<td class=\"num\">[12]</td>", page))


def test_the_list_links_each_experiment_newest_first(store: BackgroundStore) -> None:
    first = _recorded(store.url)
    second = _recorded(store.url)
    resp = httpx.get(f"{store.url}/ui/experiments")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/html")
    assert "script-src" not in resp.headers["content-security-policy"]  # default-src 'none'
    page = resp.text
    assert page.index(f"/ui/experiments/{second}") < page.index(f"/ui/experiments/{first}")
    assert "0123456789ab" in page and "feat" in page and "completed" in page
    # runs, then records (those its evaluations covered)
    assert '<td class="num">2</td>\n<td class="num">3</td>' in page


def test_an_experiments_rows_with_evaluations_tokens_and_hostile_text_kept_as_text(
    store: BackgroundStore,
) -> None:
    eid = _recorded(store.url)
    resp = httpx.get(f"{store.url}/ui/experiments/{eid}")
    assert resp.status_code == 200, resp.text
    page = resp.text
    assert _rows(page) == 6
    assert "answer r1 run 2" in page and "difficulty:hard" in page
    assert "<th>correct</th>" in page and "<th>tone</th>" in page
    assert ">true<" in page and ">false<" in page and ">calm<" in page
    assert "300" in page  # r3's tokens
    # The script posted as an output, an input and a category is shown, not run.
    assert "<script" not in page and "<img" not in page
    shown = str(escape(HOSTILE))
    assert page.count(shown) >= 4  # r3's input (within its JSON), its outputs, a category


def test_a_tag_query_and_a_multi_run_query_select_what_driftgate_records_would(
    store: BackgroundStore,
) -> None:
    eid = _recorded(store.url)
    hard = httpx.get(f"{store.url}/ui/experiments/{eid}", params={"q": "difficulty:hard"})
    assert hard.status_code == 200
    assert _rows(hard.text) == 4 and "capital of Peru" not in hard.text
    assert 'value="difficulty:hard"' in hard.text
    run2 = httpx.get(
        f"{store.url}/ui/experiments/{eid}",
        params={"q": "run_iteration:2 @evaluations.custom.correct:false"},
    )
    assert _rows(run2.text) == 1 and "answer r2 run 2" in run2.text
    avg = httpx.get(
        f"{store.url}/ui/experiments/{eid}",
        params={"q": "@multi_run_avg.@evaluations.custom.correct:<1"},
    )
    assert "1 record over their runs (2 rows)" in avg.text
    assert _rows(avg.text) == 2 and "capital of Peru" in avg.text


@pytest.mark.parametrize(
    ("query", "column", "what"),
    [
        ("difficulty:hard OR lang:en", 17, "OR is not supported"),
        ("@evaluations.custom.judge:ok", 1, "judge"),
        (
            "@multi_run_avg.@trace.total_tokens:>1000 @trace.estimated_total_cost:>0.01",
            42,
            "are not supported",
        ),
    ],
)
def test_a_query_error_is_shown_at_its_column_never_a_500(
    store: BackgroundStore, query: str, column: int, what: str
) -> None:
    eid = _recorded(store.url)
    resp = httpx.get(f"{store.url}/ui/experiments/{eid}", params={"q": query})
    assert resp.status_code == 400
    shown = html.unescape(re.search(r'<pre class="error">(.*?)</pre>', resp.text, re.S)[1])  # type: ignore[index]
    message, text, caret = shown.split("\n")
    assert message.startswith(f"column {column}: ") and what in message
    assert text == query and caret == " " * (column - 1) + "^"
    assert _rows(resp.text) == 0


def _many_rows(url: str, records: int, runs: int) -> str:
    """An experiment of `records` x `runs` rows, each row's output naming its record and
    run (`out r0007 run 2`). Answers its id."""
    api = Api(url)
    pid = api.project()
    did = api.dataset(pid)["id"]
    eid = str(api.experiment(pid, did, "many", run_count=runs)["id"])
    spans = []
    for run in range(1, runs + 1):
        for n in range(records):
            s = span(eid, f"{run}{n:05d}", f"r{n:04d}", run)
            s["meta"]["output"] = f"out r{n:04d} run {run}"
            spans.append(s)
    post_spans(api, spans)
    api.patch(eid, status="completed")
    return eid


def _shown(page: str) -> list[tuple[str, int]]:
    return [
        (r, int(n)) for r, n in re.findall(r"<td class=\"text\">out (r\d{4}) run (\d)</td>", page)
    ]


def test_more_rows_than_a_page_holds_are_paged_with_links(store: BackgroundStore) -> None:
    """1,250 rows: page 1 the first 1,000, page 2 the other 250, linked both ways with the
    search kept (encoded in the link, escaped in the page); every row on exactly one page."""
    eid = _many_rows(store.url, 625, 2)
    page_url = f"{store.url}/ui/experiments/{eid}"
    query = "run_iteration:>=1 @status:ok"
    first = httpx.get(page_url, params={"q": query})
    assert first.status_code == 200
    assert len(_shown(first.text)) == 1000
    assert "1250 rows of 1250 match; rows 1–1,000 shown, page 1 of 2." in first.text
    # The next page's link: the query percent-encoded, the & escaped in the attribute.
    link = "?q=run_iteration%3A%3E%3D1+%40status%3Aok&amp;page=2"
    assert f'<a href="{link}" rel="next">' in first.text
    assert 'rel="prev"' not in first.text
    second = httpx.get(httpx.URL(page_url).join(html.unescape(link)))
    assert second.status_code == 200
    assert len(_shown(second.text)) == 250
    assert "rows 1,001–1,250 shown, page 2 of 2." in second.text
    assert '<a href="?q=run_iteration%3A%3E%3D1+%40status%3Aok&amp;page=1" rel="prev">' in (
        second.text
    )
    assert 'rel="next"' not in second.text
    both = _shown(first.text) + _shown(second.text)
    assert sorted(both) == [(f"r{n:04d}", run) for n in range(625) for run in (1, 2)]
    # Without a query, the link holds the page alone; a page past the last shows the last.
    assert '<a href="?page=2" rel="next">' in httpx.get(page_url).text
    past = httpx.get(page_url, params={"page": "9"})
    assert past.status_code == 200 and _shown(past.text) == _shown(
        httpx.get(page_url, params={"page": 2}).text
    )
    # A page that is not a whole number from 1: said, escaped, never a 500.
    for bad in ("0", "-1", "two", "<b>x</b>", "1e3"):
        resp = httpx.get(page_url, params={"page": bad})
        assert resp.status_code == 400, bad
        assert "expected a whole number from 1" in resp.text
        assert "<b>x" not in resp.text


def test_an_unknown_experiment_is_a_404_page(store: BackgroundStore) -> None:
    resp = httpx.get(f"{store.url}/ui/experiments/nope<b>")
    assert resp.status_code == 404
    assert "<b>" not in resp.text and "nope&lt;b&gt;" in resp.text


def test_pages_are_read_only_and_keep_the_stores_keys(tmp_path: Path) -> None:
    with BackgroundStore(str(tmp_path / "s.db"), api_key="k", app_key="a") as keyed:
        assert httpx.get(f"{keyed.url}/ui/experiments").status_code == 401
        ok = httpx.get(
            f"{keyed.url}/ui/experiments",
            headers={"DD-API-KEY": "k", "DD-APPLICATION-KEY": "a"},
        )
        assert ok.status_code == 200
        keys = {"DD-API-KEY": "k", "DD-APPLICATION-KEY": "a"}
        assert httpx.post(f"{keyed.url}/ui/experiments", json={}, headers=keys).status_code == 405


# -- a real browser ---------------------------------------------------------------------------


def test_a_real_browser_renders_the_page_with_hostile_text_inert(
    store: BackgroundStore, tmp_path: Path
) -> None:
    browser = chromium()
    if browser is None:
        pytest.skip(
            "no chromium binary on PATH (apt-get install chromium): the page is not rendered"
        )
    eid = _recorded(store.url)
    shot = tmp_path / "experiment.png"
    data = screenshot(browser, f"{store.url}/ui/experiments/{eid}?q=difficulty:hard", shot)
    blank = screenshot(browser, "about:blank", tmp_path / "blank.png")
    print(f"\nscreenshot of the experiment page: {shot}")
    width, height, colours = png_pixels(data)
    assert (width, height) == (1280, 900)
    _, _, blank_colours = png_pixels(blank)
    assert len(blank_colours) <= 2
    # Text, borders and links in several shades: a rendered table, not an empty page.
    assert len(colours) > 20, len(colours)
    assert len(data) > 4 * len(blank)
