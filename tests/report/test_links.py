"""Which links survive in a report rendered from a pull request's artifact."""

from __future__ import annotations

import pytest

from driftgate.report import render_comment
from driftgate.report.links import LinkPolicy, keep_links
from tests.report.scenarios import CONTEXT, SCENARIOS

POLICY = LinkPolicy("app.datadoghq.com", "https://github.com", "acme/support-bot", 1234)


@pytest.mark.parametrize(
    "url",
    [
        "https://app.datadoghq.com/llm/experiments/0c4d1da7",
        "https://APP.datadoghq.com/llm/experiments/x?a=1#b",
        "https://github.com/acme/support-bot/actions/runs/1234",
        "https://github.com/Acme/Support-Bot/actions/runs/1234/job/99",
    ],
)
def test_the_sites_ui_and_the_runs_pages_are_kept(url: str) -> None:
    assert POLICY.allows(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/login",
        "http://app.datadoghq.com/llm/experiments/x",  # not https
        "https://app.datadoghq.com.evil.example/x",
        "https://app.datadoghq.com@evil.example/x",  # user info: the host is evil.example
        "https://user:pw@app.datadoghq.com/x",
        "https://app.datadoghq.com:8443/x",
        "https://app.datadoghq.eu/x",  # another site than the configured one
        "https://github.com/acme/support-bot/actions/runs/12345",  # another run
        "https://github.com/acme/support-bot/actions/runs/1234x",
        "https://github.com/evil/support-bot/actions/runs/1234",
        "https://github.com/acme/support-bot/pull/1",
        "https://gist.github.com/acme/support-bot/actions/runs/1234",
        "javascript:alert(1)",
        "https://app.datadoghq.com\\@evil.example/",
        "https://app.datadoghq.com/x\n",
        "",
        None,
    ],
)
def test_anything_else_is_dropped(url: str | None) -> None:
    assert not POLICY.allows(url)


def test_dropped_links_leave_their_text_and_kept_ones_stay_links() -> None:
    result = SCENARIOS["fail"]()
    first = result.reports[0]
    assert first.candidate is not None and first.baseline is not None
    hostile = first.model_copy(
        update={
            "candidate": first.candidate.model_copy(update={"url": "https://evil.example/a"}),
            "baseline": first.baseline,
        }
    )
    result = result.model_copy(update={"reports": [hostile, *result.reports[1:]]})
    ctx = CONTEXT.model_copy(update={"run_url": "https://evil.example/run"})
    kept, kept_ctx = keep_links(result, ctx, POLICY)
    assert kept_ctx.run_url is None
    assert kept.reports[0].candidate is not None
    assert kept.reports[0].candidate.url is None
    assert kept.reports[0].baseline == first.baseline  # a Datadog link: kept
    text = render_comment(kept, kept_ctx)
    assert "evil.example" not in text
    assert "answers-102" in text  # the name is still there, as text
    assert f"]({first.baseline.url})" in text
    # Nothing else changed.
    assert kept.model_copy(update={"reports": result.reports}) == result
