"""The trend's Mermaid charts, drawn by a real browser: Debian's Chromium, headless, running
the Mermaid that GitHub runs (tests/external pins the version) on the charts of a pull
request's comment, and on one whose every text is hostile.

The picture is kept as a test artefact (`.driftgate/test-artefacts/mermaid-trend.png` at the
repository's root, ignored by git) for a reader to look at; the test asserts what can be
asserted: Mermaid parsed and drew every chart (an SVG each, no error), and the picture is
no blank page and holds the line's colour."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from driftgate.compare.schema import Trend, TrendPoint
from driftgate.report import render_comment
from driftgate.report.charts import mermaid_chart
from tests.browser import chromium, dom, png_pixels, screenshot
from tests.references import MODULES
from tests.report.hostile_text import PIECES
from tests.report.markdown import fences
from tests.report.scenarios import CONTEXT, pooled_result

MERMAID = MODULES / "mermaid" / "dist" / "mermaid.min.js"
ARTEFACTS = Path(__file__).resolve().parents[2] / ".driftgate" / "test-artefacts"
LINE = bytes((0x09, 0x69, 0xDA))  # the line's colour, set in the chart's frontmatter

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>pending</title>
<script src="{mermaid}"></script>
<style>body {{ background: #fff; margin: 0 }} .chart {{ width: 620px; display: inline-block }}
</style></head>
<body><div id="charts"></div>
<script>
const SOURCES = {sources};
mermaid.initialize({{ startOnLoad: false }});
(async () => {{
  const results = [];
  for (const [i, source] of SOURCES.entries()) {{
    const box = document.createElement("div");
    box.className = "chart";
    document.getElementById("charts").appendChild(box);
    try {{
      await mermaid.parse(source);
      const {{ svg }} = await mermaid.render("chart-" + i, source);
      box.innerHTML = svg;
      results.push("ok");
    }} catch (error) {{
      results.push("error: " + String(error).slice(0, 500));
    }}
  }}
  const out = document.createElement("pre");
  out.id = "results";
  out.textContent = JSON.stringify(results);
  document.body.appendChild(out);
}})();
</script></body></html>
"""


def _hostile_chart() -> str:
    """A trend whose name, unit and runs are made of every hostile piece."""
    text = "".join(PIECES)

    def point(value: float) -> TrendPoint:
        return TrendPoint(run_id=text, commit=text, value=value, records=3)

    trend = Trend(
        metric=text,
        kind="mean",
        direction="higher",
        unit=text,
        points=[point(0.25), point(0.5), point(0.125)],
        candidate=point(0.75),
    )
    return "\n".join(fences(mermaid_chart(trend))[0].lines)


def test_chromium_draws_the_comments_charts(tmp_path: Path) -> None:
    browser = chromium()
    if browser is None:
        pytest.skip("no chromium binary on PATH (apt-get install chromium): no chart is drawn")
    if not MERMAID.is_file():
        pytest.skip(f"{MERMAID} is missing: run `npm ci --prefix tests/external`")
    comment = render_comment(pooled_result(), CONTEXT)
    lines = comment.split("\n")
    charts = ["\n".join(f.lines) for f in fences(comment) if lines[f.open_line] == "```mermaid"]
    assert len(charts) == 4
    sources = [*charts, _hostile_chart()]
    page = tmp_path / "trend.html"
    page.write_text(
        PAGE.format(
            mermaid=MERMAID.as_uri(),
            # In a script, `</` could end it: JSON's escape keeps it out.
            sources=json.dumps(sources).replace("<", "\\u003c"),
        ),
        encoding="utf-8",
    )
    html = dom(browser, page.as_uri(), tmp_path / "profile")
    found = re.search(r'<pre id="results">(.*?)</pre>', html, re.S)
    assert found is not None, "the page's script did not finish"
    assert json.loads(found[1].replace("&quot;", '"')) == ["ok"] * len(sources)
    assert html.count('aria-roledescription="xychart"') == len(sources)
    assert "Syntax error" not in html
    shot = screenshot(browser, page.as_uri(), tmp_path / "trend.png", scripts=True)
    blank = screenshot(browser, "about:blank", tmp_path / "blank.png")
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    kept = ARTEFACTS / "mermaid-trend.png"
    shutil.copyfile(tmp_path / "trend.png", kept)
    print(f"\nthe trend's charts as Chromium drew them: {kept}")
    width, height, colours = png_pixels(shot)
    assert (width, height) == (1280, 900)
    assert len(png_pixels(blank)[2]) <= 2
    # Axes, labels and the line in several shades: drawn charts, not an empty page.
    assert len(colours) > 20, len(colours)
    assert any(colour[:3] == LINE for colour in colours)
    assert len(shot) > 4 * len(blank)
