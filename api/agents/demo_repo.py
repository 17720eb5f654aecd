"""The demo project's git repository: a small "ramen shop" app, made on ``make run``'s first start.

A real repository so a newcomer sees what agents do to code: each feature gets
a branch cloned from it, every step a commit, and a passing feature merges
back into its ``main``. It lives under ``.data/`` (``make run`` passes
``.data/demo-repo``), which the sandbox hides from agents — as with anyone's
repository, only the service reads it and moves commits into it.

Made with pygit2 (pinned): no dependency on the machine's git identity or
config, and the same bytes on every machine.
"""

from __future__ import annotations

from pathlib import Path

import pygit2

#: The demo repository's one branch (features start from it and merge into it).
DEMO_BRANCH = "main"
DEMO_AUTHOR = ("Ramen shop", "kitchen@ramen-shop.invalid")
FIRST_MESSAGE = "Ramen shop: the menu, a first commit"
DEMO_FILES: dict[str, str] = {
    "README.md": (
        "# Ramen shop\n\nA tiny noodle bar's app: the menu today, orders and a kitchen board "
        "soon.\nOmakase's demo agents add to it, one branch per feature.\n\n"
        "```sh\npython -m pytest\n```\n"
    ),
    ".gitignore": "__pycache__/\n*.pyc\n.pytest_cache/\n",
    "pyproject.toml": '[tool.pytest.ini_options]\npythonpath = ["."]\n',
    "ramen/__init__.py": '"""The ramen shop."""\n',
    "ramen/menu.py": (
        '"""Today\'s bowls and their prices (in yen)."""\n\n'
        "BOWLS: dict[str, int] = {\n"
        '    "shoyu": 950,\n'
        '    "miso": 1_050,\n'
        '    "tonkotsu": 1_200,\n'
        "}\n\n\n"
        "def price_of(bowl: str) -> int:\n"
        '    """The price of a bowl; ``KeyError`` for a bowl not on the menu."""\n'
        "    return BOWLS[bowl.strip().lower()]\n"
    ),
    "tests/test_menu.py": (
        "from ramen.menu import price_of\n\n\n"
        "def test_a_bowl_has_a_price() -> None:\n"
        '    assert price_of(" Shoyu ") == 950\n'
    ),
}


def make_demo_repository(path: Path) -> Path:
    """The repository at ``path``, made with one commit on ``main`` unless it already exists."""
    if (path / ".git").exists():
        return path
    path.mkdir(parents=True, exist_ok=True)
    repo = pygit2.init_repository(str(path), initial_head=DEMO_BRANCH)
    for name, text in DEMO_FILES.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    repo.index.add_all()
    repo.index.write()
    tree = repo.index.write_tree()
    author = pygit2.Signature(*DEMO_AUTHOR)
    repo.create_commit("HEAD", author, author, FIRST_MESSAGE + "\n", tree, [])
    return path
