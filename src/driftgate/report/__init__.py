"""The report on GitHub's surfaces and in the terminal: Jinja2 templates shipped in the
package (`templates/*.md.j2`) and pure rendering functions.

- `render_comment`: the sticky pull request comment, compact.
- `render_check`: the check run's title, summary and text.
- `render_summary`: the job summary, the full report.
- `render_terminal`: text for a terminal and report.md (no HTML, no escapes).
- `status_description`: the commit status's one line.

Every text from experiments, git or the environment is escaped by the filters of
`escape.py`; every rendering fits its surface's limit (`limits.py`) by itself (`render.py`).
"""

from driftgate.report.render import (
    CheckOutput,
    CheckRules,
    check_title,
    render_check,
    render_comment,
    render_summary,
    render_terminal,
    status_description,
)

__all__ = [
    "CheckOutput",
    "CheckRules",
    "check_title",
    "render_check",
    "render_comment",
    "render_summary",
    "render_terminal",
    "status_description",
]
