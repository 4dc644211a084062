"""Compiled templates kept between runs in the directory the session names: the rendering is
the same from the cache, and a directory that cannot be written is no cache, not an error."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from driftgate.report import render
from tests.report.scenarios import CONTEXT, fail_result


@pytest.fixture(autouse=True)
def _no_cache_after() -> Iterator[None]:
    yield
    render.keep_compiled_templates(None)


def test_the_second_process_renders_from_the_cache_the_same_report(tmp_path: Path) -> None:
    cache = tmp_path / "cache" / "templates"
    expected = render.render_terminal(fail_result(), CONTEXT)

    render.keep_compiled_templates(cache)
    assert render.render_terminal(fail_result(), CONTEXT) == expected
    written = sorted(p.name for p in cache.iterdir())
    assert written  # the templates the terminal uses, compiled

    # A fresh environment (as a new process has) loads them instead of compiling.
    render.keep_compiled_templates(cache)
    compiled = render.environment().compile
    render.environment().compile = lambda *a, **k: pytest.fail("compiled again")  # type: ignore[method-assign]
    try:
        assert render.render_terminal(fail_result(), CONTEXT) == expected
    finally:
        render.environment().compile = compiled  # type: ignore[method-assign]
    assert sorted(p.name for p in cache.iterdir()) == written


def test_a_cache_that_cannot_be_written_renders_all_the_same(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    expected = render.render_terminal(fail_result(), CONTEXT)
    render.keep_compiled_templates(blocked / "templates")
    assert render.render_terminal(fail_result(), CONTEXT) == expected


def test_a_corrupt_cache_entry_is_compiled_again(tmp_path: Path) -> None:
    cache = tmp_path / "templates"
    expected = render.render_terminal(fail_result(), CONTEXT)
    render.keep_compiled_templates(cache)
    render.render_terminal(fail_result(), CONTEXT)
    for entry in cache.iterdir():
        entry.write_bytes(b"garbage")
    render.keep_compiled_templates(cache)
    assert render.render_terminal(fail_result(), CONTEXT) == expected
