"""In the Action, the embedded store is on the runner: a link to its pages would lead a
reviewer nowhere. The report links no embedded-store experiment, and says how to browse the
store instead (`driftgate serve` on the run's store file)."""

from __future__ import annotations

import json

from tests.action import test_main
from tests.action.test_main import REPO, World, git

world = test_main.world  # the fixture: a workspace, the GitHub fake

HINT = (
    "Experiments in the embedded store (to browse them: `driftgate serve` on this run's store file)"
)


def test_no_link_to_the_runners_store_and_how_to_browse_it(world: World) -> None:
    first = world.commit("base")
    main = world.commit("main work")
    assert world.act("push", world.push_event(main, first)).code == 0
    git(world.repo, "checkout", "-q", "-b", "feature")
    head = world.commit("a change")
    world.fake.add_pull(REPO, 5, head_sha=head, base_sha=main, head_ref="feature")
    step = world.act("pull_request", world.pr_event(5, head, main))
    assert step.code == 0, step.stdout
    report = json.loads((world.repo / ".driftgate" / "report" / "report.json").read_text())
    assert report["candidate"]["url"] is None
    assert report["baseline"]["url"] is None
    (comment,) = test_main.our_comments(world, 5)
    (check,) = world.fake.check_runs(REPO, head)
    report_md = (world.repo / ".driftgate" / "report" / "report.md").read_text()
    for surface in (comment.body, check.output["summary"], step.summary, report_md):
        assert "127.0.0.1" not in surface
        assert "/ui/experiments/" not in surface
    for surface in (comment.body, check.output["summary"], step.summary):
        assert HINT in surface
    assert "Pages: `driftgate serve` serves the embedded store's experiments (at" in report_md
