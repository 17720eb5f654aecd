"""The demo agent: a scripted stand-in for a coding agent, no LLM and no network but the API.

``python -m api.agents.demo_agent`` is what the ``demo`` runner starts for each
pipeline step. It behaves like a well-mannered agent so the dashboard is alive
out of the box and the tests can check every promise of the relay:

* prints progress lines (they land in the log viewer, tagged with its name);
* reports its phases with its run-scoped token (thinking → coding/reviewing/testing);
* replies "Got it — …" in the chat to every message relayed to it
  (``OMAKASE_USER_MESSAGES``) and to every message that shows up in its
  mid-step inbox (``$OMAKASE_STATE_DIR/inbox.json``) while it works;
* writes what it received to ``$OMAKASE_STATE_DIR/received-<step>-<attempt>.json``
  (messages, inbox messages, the CLAUDE.md guidance section), so tests assert
  from files rather than from timing.

Behaviour switches, written into the feature description (for tests and demos):
``[fail-<role>]`` the role's step always exits 1; ``[fail-once-<role>]`` only its
first attempt does; ``[hold-<role>]`` the step runs until it is stopped (``[hold-once-<role>]``:
only its first attempt);
``[await-message-<role>]`` the step ends once a message reached its inbox;
``[request-changes]`` the first review exits 2 (request changes);
``[step-seconds=N]`` overrides ``OMAKASE_DEMO_STEP_SECONDS`` for this feature;
``[ask-<role>]`` the role's first attempt asks the person a question with quick
answers (the ``ask_human`` route the MCP server uses) and waits for the answer,
at most ``[ask-seconds=N]`` (default ``DEMO_ASK_TIMEOUT_S``).
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Standard library only (plus a tiny helper module): a step's start-up time is
# the demo's overhead per step, and pydantic/httpx would triple it.
from api.agents.guidance import CLAUDE_FILE, extract_section

#: Longest a ``[hold-…]`` or ``[await-message-…]`` step runs before giving up.
HOLD_MAX_S = 300.0
#: How often the agent looks at its inbox (and at whether its parent is alive).
TICK_MAX_S = 0.25
PROGRESS_LINES = 4
HTTP_TIMEOUT_S = 10.0
#: Exit codes: the reviewer's verdict, a deliberate failure, "my run was ended".
EXIT_REQUEST_CHANGES = 2
EXIT_FAILED = 1
EXIT_RUN_ENDED = 3
SNIPPET_CHARS = 80
#: The demo's question waits this long by default (a real agent's wait is 15 minutes).
DEMO_ASK_TIMEOUT_S = 120.0
ASK_POLL_S = 0.5
DEMO_QUESTION = "Before I design the orders module: which database should it use?"
DEMO_OPTIONS = ["SQLite", "Postgres"]
TERMINAL_STATUSES = ("completed", "failed")
PHASE_BY_ROLE = {"coder": "coding", "reviewer": "reviewing", "tester": "testing"}
WORK_LINES = {
    "architect": ["reading the feature", "sketching the modules", "writing the design notes"],
    "coder": ["creating the module", "writing the handlers", "adding unit tests"],
    "reviewer": ["reading the diff", "checking error handling", "checking the tests"],
    "tester": ["running the unit tests", "running the integration tests", "all green"],
}


class RunEndedError(Exception):
    """The API says this run has ended (cancelled, or failed elsewhere)."""


@dataclass
class ApiCaller:
    """JSON over HTTP with the run's agent token (urllib: no third-party import)."""

    base_url: str
    token: str

    def request(self, method: str, path: str, body: dict[str, Any] | None) -> tuple[int, str]:
        request = urllib.request.Request(  # noqa: S310 - the URL is the API's, from our env
            self.base_url.rstrip("/") + path,
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        # No proxies: the API is ours (usually on loopback), never behind HTTP(S)_PROXY.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=HTTP_TIMEOUT_S) as response:
                return int(response.status), response.read().decode()
        except urllib.error.HTTPError as error:
            return int(error.code), error.read().decode(errors="replace")


@dataclass
class DemoAgent:
    env: dict[str, str]
    workspace: Path
    client: ApiCaller
    received: dict[str, Any] = field(default_factory=dict)
    replied: set[str] = field(default_factory=set)
    parent: int = field(default_factory=os.getppid)

    @property
    def role(self) -> str:
        return self.env["OMAKASE_ROLE"]

    @property
    def step(self) -> int:
        return int(self.env["OMAKASE_STEP"])

    @property
    def attempt(self) -> int:
        return int(self.env.get("OMAKASE_ATTEMPT", "1"))

    @property
    def name(self) -> str:
        return self.env.get("OMAKASE_AGENT_NAME", self.role)

    @property
    def description(self) -> str:
        return self.env.get("OMAKASE_FEATURE_DESCRIPTION", "")

    def has_marker(self, marker: str) -> bool:
        return f"[{marker}]" in self.description

    def say(self, text: str) -> None:
        print(f"{self.env.get('OMAKASE_AGENT_MASCOT', '')} {self.name}: {text}", flush=True)

    # --- API calls ----------------------------------------------------------------

    def _call(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        """The decoded answer, or None when the call failed (reported, not fatal)."""
        run_path = f"/api/agent-runs/{self.env['OMAKASE_RUN_ID']}{path}"
        try:
            status, text = self.client.request(method, run_path, body)
        except OSError as error:
            print(f"API unreachable ({error}); carrying on", file=sys.stderr, flush=True)
            return None
        if status == 409:
            raise RunEndedError(text[:200])
        if status >= 400:
            problem = f"{method} {run_path} answered {status}: {text[:200]}"
            print(problem, file=sys.stderr, flush=True)
            return None
        return json.loads(text) if text else None

    def report_phase(self, status: str) -> None:
        self._call("PATCH", "", {"status": status})

    def reply(self, message: dict[str, Any], *, channel: str) -> None:
        if message["id"] in self.replied:
            return
        self.replied.add(message["id"])
        snippet = " ".join(str(message.get("content", "")).split())
        if len(snippet) > SNIPPET_CHARS:
            snippet = snippet[: SNIPPET_CHARS - 1] + "…"
        where = "from my inbox, mid-step" if channel == "inbox" else "before I started"
        text = (
            f"Got it — “{snippet}” ({where}). I'm {self.name}, the {self.role}; "
            f"I'll take it into account in step {self.step}."
        )
        self._call("POST", "/messages", {"content": text, "id": f"reply-{message['id']}"})
        self.received.setdefault("replies", []).append(message["id"])
        self.save()

    def ask(self) -> None:
        """Ask the demo question, wait for the answer (or the timeout), acknowledge it."""
        match = re.search(r"\[ask-seconds=(\d+(?:\.\d+)?)\]", self.description)
        timeout = float(match.group(1)) if match else DEMO_ASK_TIMEOUT_S
        body = {"question": DEMO_QUESTION, "options": DEMO_OPTIONS, "id": f"q-demo-{self.step}"}
        question = self._call("POST", "/questions", body)
        if not isinstance(question, dict):
            return
        self.say(f"asked the person: {DEMO_QUESTION!r}; waiting for the answer")
        query = f"/messages?since={question['cursor']}&sender=user&limit=1"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.orphaned():
                raise RunEndedError("the orchestrator went away")
            found = self._call("GET", query, None)
            if found:
                answer = found[0]
                self.replied.add(answer["id"])  # answered here, not again from the inbox
                closed = {"messageId": answer["id"]}
                self._call("POST", f"/questions/{question['id']}/answered", closed)
                snippet = " ".join(str(answer["content"]).split())[:SNIPPET_CHARS]
                self.received["answer"] = answer
                self._call("POST", "/messages", {"content": f"Thanks — going with “{snippet}”."})
                self.save()
                return
            run = self._call("GET", "", None)
            if isinstance(run, dict) and run.get("status") in TERMINAL_STATUSES:
                raise RunEndedError(f"the run ended while I waited ({run.get('errorMessage')})")
            time.sleep(ASK_POLL_S)
        self._call("POST", f"/questions/{question['id']}/expired", None)
        self.received["answer"] = None
        text = f"Nobody answered within {timeout:g} s; I'm going with {DEMO_OPTIONS[0]} for now."
        self._call("POST", "/messages", {"content": text})
        self.save()

    # --- files --------------------------------------------------------------------

    @property
    def state(self) -> Path:
        """The service's state folder for this feature (outside the workspace, which is
        the repository: nothing of ours may land in a commit)."""
        return Path(self.env.get("OMAKASE_STATE_DIR") or self.workspace / ".omakase")

    def save(self) -> None:
        folder = self.state
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"received-{self.step}-{self.attempt}.json"
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.received, indent=2, ensure_ascii=False) + "\n")
        temporary.replace(path)

    def read_inbox(self) -> list[dict[str, Any]]:
        path = self.state / "inbox.json"
        try:
            records = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        return [r for r in records if isinstance(r, dict) and "id" in r]

    def check_inbox(self) -> int:
        fresh = [m for m in self.read_inbox() if m["id"] not in self.replied]
        for message in fresh:
            self.say(f"new message in my inbox: {message['content'][:SNIPPET_CHARS]!r}")
            self.received.setdefault("inboxMessages", []).append(message)
            self.reply(message, channel="inbox")
        return len(fresh)

    # --- the step -----------------------------------------------------------------

    def orphaned(self) -> bool:
        return os.getppid() != self.parent

    def wait(self, seconds: float, *, until_message: bool = False) -> None:
        """Work for ``seconds``, reading the inbox between actions."""
        deadline = time.monotonic() + seconds
        tick = min(TICK_MAX_S, max(seconds / 20, 0.02))
        while time.monotonic() < deadline:
            if self.orphaned():
                raise RunEndedError("the orchestrator went away")
            if self.check_inbox() and until_message:
                return
            time.sleep(tick)
        self.check_inbox()

    def step_seconds(self) -> float:
        match = re.search(r"\[step-seconds=(\d+(?:\.\d+)?)\]", self.description)
        if match:
            return float(match.group(1))
        return float(self.env.get("OMAKASE_DEMO_STEP_SECONDS", "20"))

    def run(self) -> int:
        messages = json.loads(self.env.get("OMAKASE_USER_MESSAGES") or "[]")
        claude = Path(self.env.get("OMAKASE_GUIDANCE_FILE") or self.workspace / CLAUDE_FILE)
        section = extract_section(claude.read_text(encoding="utf-8")) if claude.exists() else None
        self.received = {
            "runId": self.env["OMAKASE_RUN_ID"],
            "role": self.role,
            "step": self.step,
            "attempt": self.attempt,
            "userMessages": messages,
            "claudeSection": section,
            "inboxMessages": [],
            "replies": [],
        }
        self.save()
        feature = self.env.get("OMAKASE_FEATURE_NAME", "the feature")
        self.say(f"starting step {self.step} ({self.role}, attempt {self.attempt}) of {feature}")
        self.report_phase("thinking")
        for message in messages:
            self.say(f"relayed message: {message['content'][:SNIPPET_CHARS]!r}")
            self.reply(message, channel="relay")
        if self.has_marker(f"ask-{self.role}") and self.attempt == 1:
            self.ask()
        seconds = self.step_seconds()
        lines = WORK_LINES.get(self.role, ["working"])
        self.wait(seconds / PROGRESS_LINES)
        if self.role in PHASE_BY_ROLE:
            self.report_phase(PHASE_BY_ROLE[self.role])
        for line in lines:
            self.say(line + " …")
            self.wait(seconds / PROGRESS_LINES)
        if self.has_marker(f"hold-{self.role}") or (
            self.has_marker(f"hold-once-{self.role}") and self.attempt == 1
        ):
            self.say("holding until I am stopped")
            self.wait(HOLD_MAX_S)
        if self.has_marker(f"await-message-{self.role}") and not self.received["inboxMessages"]:
            self.say("waiting for a message in my inbox")
            self.wait(HOLD_MAX_S, until_message=True)
        return self.verdict()

    def verdict(self) -> int:
        notes = self.workspace / "notes" / f"{self.step:02d}-{self.role}.md"
        notes.parent.mkdir(parents=True, exist_ok=True)
        notes.write_text(f"# Step {self.step}: {self.role} ({self.name})\n\nDone.\n")
        if self.has_marker(f"fail-{self.role}") or (
            self.has_marker(f"fail-once-{self.role}") and self.attempt == 1
        ):
            print(f"{self.name}: deliberate failure (demo marker)", file=sys.stderr, flush=True)
            return EXIT_FAILED
        if self.role == "reviewer" and self.has_marker("request-changes"):
            flag = self.state / "changes-requested"
            if not flag.exists():
                flag.write_text(self.env["OMAKASE_RUN_ID"] + "\n")
                self.say("requesting changes: please handle the empty-input case")
                return EXIT_REQUEST_CHANGES
        self.say(f"step {self.step} done")
        return 0


def main() -> int:
    env = dict(os.environ)
    workspace = Path(env.get("OMAKASE_WORKSPACE") or os.getcwd())
    client = ApiCaller(base_url=env["OMAKASE_API_URL"], token=env["OMAKASE_AGENT_TOKEN"])
    agent = DemoAgent(env=env, workspace=workspace, client=client)
    try:
        return agent.run()
    except RunEndedError as error:
        print(f"stopping: {error}", file=sys.stderr, flush=True)
        return EXIT_RUN_ENDED


if __name__ == "__main__":
    sys.exit(main())
