"""The demo agent's files: every role leaves a diff, the code runs, a message shows in it."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pygit2
import pytest

from api.agents.demo_repo import make_demo_repository
from api.agents.demo_work import TODO_LINE, DemoWork, slug

DESCRIPTION = 'Show "today\'s" bowls \\ prices. [step-seconds=8] [request-changes]'


def test_slugs_are_python_identifiers() -> None:
    assert slug("Menu page") == "menu_page"
    assert slug("Table booking (round 2)") == "table_booking_round_2"
    assert slug("3 bowls") == "f_3_bowls"
    assert slug("日本") == "feature"


def test_a_review_cycle_writes_code_that_runs_and_quotes_the_person(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Architect stub → coder's edit → review asking for changes → coder's fix → tester."""
    repo = make_demo_repository(tmp_path / "shop")
    assert make_demo_repository(repo) == repo  # made once
    made = pygit2.Repository(str(repo))
    assert len(list(made.walk(made.head.target))) == 1

    def work(step: int, agent: str, *heard: str) -> DemoWork:
        return DemoWork(repo, "Menu page", DESCRIPTION, step, agent, list(heard))

    assert [str(p) for p in work(1, "Miso").write("architect")] == [
        "docs/design/menu_page.md",
        "ramen/menu_page.py",
    ]
    module = repo / "ramen" / "menu_page.py"
    assert TODO_LINE in module.read_text()
    assert [str(p) for p in work(2, "Nori", "use\nkombu").write("coder")] == ["ramen/menu_page.py"]
    first = module.read_text()
    assert TODO_LINE not in first
    assert "    # You said: “use kombu”\n" in first
    work(3, "Koji").write("reviewer", verdict="Changes requested: the empty input.")
    work(4, "Nori").write("coder", changes_requested=True)
    assert "if not items:" in module.read_text()
    work(5, "Koji").write("reviewer", verdict="Approved.")
    review = (repo / "reviews" / "menu_page.md").read_text()
    assert review.count("## Review") == 2
    assert [str(p) for p in work(6, "Toro").write("tester")] == ["tests/test_menu_page.py"]

    namespace = runpy.run_path(str(module))
    assert namespace["menu_page"]([]) == []
    assert namespace["menu_page"]([" shoyu ", " "]) == ["shoyu"]
    monkeypatch.syspath_prepend(str(repo))
    try:
        for test_file in ("tests/test_menu.py", "tests/test_menu_page.py"):
            test = runpy.run_path(str(repo / test_file))
            for name in [n for n in test if n.startswith("test_")]:
                test[name]()  # the tester's test passes against the coder's code
    finally:
        for name in [n for n in sys.modules if n == "ramen" or n.startswith("ramen.")]:
            del sys.modules[name]
