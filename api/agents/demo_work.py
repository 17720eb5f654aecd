"""What the scripted demo agent writes into its workspace: real files, so every step has a diff.

Each feature touches files of its own (named after the feature), so the demo's
features merge one after another without conflicts:

* architect — ``docs/design/<slug>.md``, a design note, and the module's stub
  ``ramen/<slug>.py`` (a docstring and a TODO);
* coder — replaces the TODO with a function (an edit: lines removed and added);
  after a review asked for changes, it edits that function again;
* reviewer — ``reviews/<slug>.md``, its review (appended on a second review);
* tester — ``tests/test_<slug>.py``, a test of the function.

What the person said to the agent during the step is written in too (a comment,
a line of the note), so the step's diff shows what a message changed.
Standard library only: it runs in every demo step's start-up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

#: Characters of a person's message quoted in a file.
QUOTE_CHARS = 120
TODO_LINE = "# TODO(Nori): implement it."
FIRST_BODY = "    return [item.strip() for item in items]\n"
FIXED_BODY = (
    "    if not items:\n"
    "        return []  # the empty-input case the review asked for\n"
    "    return [item.strip() for item in items if item.strip()]\n"
)
MARKER = re.compile(r"\s*\[[a-z-]+(?:=[0-9.]+)?\]")


def slug(name: str) -> str:
    """A Python identifier from a feature's name: ``Menu page`` → ``menu_page``."""
    text = re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_") or "feature"
    return f"f_{text}" if text[0].isdigit() else text


def plain(description: str) -> str:
    """The description without the demo's ``[markers]``."""
    return MARKER.sub("", description).strip()


def quote(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= QUOTE_CHARS else flat[: QUOTE_CHARS - 1] + "…"


def safe(text: str) -> str:
    """Text fit for a one-line docstring (no quotes, no backslashes to break the module)."""
    return quote(text).replace("\\", "/").replace('"', "'")


@dataclass
class DemoWork:
    """One step's writing in ``workspace`` (the agent's working directory)."""

    workspace: Path
    feature: str
    description: str
    step: int
    agent: str
    #: The person's messages this step received (relayed and from the inbox).
    heard: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return slug(self.feature)

    @property
    def module(self) -> Path:
        return self.workspace / "ramen" / f"{self.name}.py"

    def write(self, role: str, *, changes_requested: bool = False, verdict: str = "") -> list[Path]:
        """Write the role's files; returns them (relative to the workspace)."""
        writers = {
            "architect": self.architect,
            "coder": lambda: self.coder(fix=changes_requested),
            "reviewer": lambda: self.reviewer(verdict),
            "tester": self.tester,
        }
        written = writers.get(role, list)()
        return [path.relative_to(self.workspace) for path in written]

    def _heard_lines(self, prefix: str) -> str:
        return "".join(f"{prefix}You said: “{quote(text)}”\n" for text in self.heard)

    def architect(self) -> list[Path]:
        note = self.workspace / "docs" / "design" / f"{self.name}.md"
        note.parent.mkdir(parents=True, exist_ok=True)
        note.write_text(
            f"# {self.feature}: design\n\n{plain(self.description) or 'No description.'}\n\n"
            f"* one module, `ramen/{self.name}.py`, with one function `{self.name}(items)`;\n"
            f"* a test in `tests/test_{self.name}.py`.\n"
            + (f"\n## From the conversation\n\n{self._heard_lines('* ')}" if self.heard else "")
            + f"\n— {self.agent}, step {self.step}\n",
            encoding="utf-8",
        )
        written = [note]
        if not self.module.exists():
            self.module.parent.mkdir(parents=True, exist_ok=True)
            about = safe(plain(self.description)).rstrip(".") or "see the design note"
            self.module.write_text(
                f'"""{safe(self.feature)}: {about}."""\n\n{TODO_LINE}\n',
                encoding="utf-8",
            )
            written.append(self.module)
        return written

    def coder(self, *, fix: bool) -> list[Path]:
        text = self.module.read_text(encoding="utf-8") if self.module.exists() else ""
        function = (
            f"def {self.name}(items: list[str]) -> list[str]:\n"
            f'    """{safe(self.feature)}: the bowls, tidied."""\n' + self._heard_lines("    # ")
        )
        if TODO_LINE in text:
            text = text.replace(TODO_LINE + "\n", "\n" + function + FIRST_BODY)
        elif FIRST_BODY in text and fix:
            text = text.replace(FIRST_BODY, self._heard_lines("    # ") + FIXED_BODY)
        elif f"def {self.name}(" not in text:
            text += "\n\n" + function + FIRST_BODY
        elif self.heard:
            text += "\n" + self._heard_lines("# ")
        self.module.parent.mkdir(parents=True, exist_ok=True)
        self.module.write_text(text, encoding="utf-8")
        return [self.module]

    def reviewer(self, verdict: str) -> list[Path]:
        review = self.workspace / "reviews" / f"{self.name}.md"
        review.parent.mkdir(parents=True, exist_ok=True)
        before = review.read_text(encoding="utf-8") if review.exists() else f"# {self.feature}\n"
        review.write_text(
            before
            + f"\n## Review, step {self.step} ({self.agent})\n\n{verdict}\n"
            + self._heard_lines("* "),
            encoding="utf-8",
        )
        return [review]

    def tester(self) -> list[Path]:
        test = self.workspace / "tests" / f"test_{self.name}.py"
        test.parent.mkdir(parents=True, exist_ok=True)
        test.write_text(
            f'"""{safe(self.feature)}: written by {safe(self.agent)}, step {self.step}."""\n\n'
            f"from ramen.{self.name} import {self.name}\n\n\n"
            f"def test_{self.name}_tidies_the_bowls() -> None:\n"
            f'    assert {self.name}([" shoyu ", "miso"]) == ["shoyu", "miso"]\n'
            + self._heard_lines("# "),
            encoding="utf-8",
        )
        return [test]
