"""Latencies of the pinned Claude Code CLI in stream-json mode, against the scripted model.

Not a test: the facts (order, nothing lost) are proven in tests/support/test_claude_live_input.py;
this measures how long they take, for the live runner's expectations. Per repetition,
one fresh CLI process (temporary home, scripted model on 127.0.0.1):

* start: spawn → first model request (the prompt is written at once);
* steer: a line written during ``sleep 2`` → tool result on stdout → the echo of the
  line → the next model request carrying it;
* interrupt: during ``sleep 30``, interrupt written → ``control_response`` → ``result``;
  then a new line written → its turn's ``result``.

Usage::

    .venv/bin/python -m bench.claude_cli              # 5 repetitions, ~1-2 min
    .venv/bin/python -m bench.claude_cli --reps 10
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from infra.claude_cli import PINNED_CLAUDE_BIN
from tests.support.claude_session import ClaudeSession, claude_env, interrupt_line, user_line
from tests.support.fake_model import FakeModel

#: Upper bound for any single wait (a stuck CLI fails the run instead of hanging it).
WAIT_S = 60.0
#: How long the steered tool runs, and how long into it the line is written.
STEER_SLEEP = "sleep 2"
STEER_AFTER_S = 0.5
#: How long into ``sleep 30`` the interrupt is written.
INTERRUPT_AFTER_S = 1.0


def one_rep(home: Path, work: Path, figures: dict[str, list[float]]) -> None:
    with FakeModel() as model:
        started = time.monotonic()
        with ClaudeSession(env=claude_env(model, home), cwd=work) as session:
            session.send(user_line(f"Steer [[bash: {STEER_SLEEP}]]"))
            first = model.wait_for_request(lambda r: r.is_agent_call, WAIT_S)
            figures["start → first model request"].append(first.at - started)
            session.wait_event(lambda e: e.type == "assistant", WAIT_S)
            time.sleep(STEER_AFTER_S)
            line = user_line("steer words", priority="next")
            session.send(line)
            echo = session.wait_event(lambda e: e.data.get("uuid") == line["uuid"], WAIT_S)
            tool_end = session.wait_event(lambda e: "tool_use_result" in e.data, WAIT_S)
            carrying = model.wait_for_text("steer words", WAIT_S)
            figures["tool result → echo of the steered line"].append(echo.at - tool_end.at)
            figures["echo → model request carrying it"].append(carrying.at - echo.at)
            done = session.wait_result(WAIT_S)

            after = session.events.index(done) + 1
            session.send(user_line("Interrupt [[bash: sleep 30]]"))
            session.wait_event(lambda e: e.type == "assistant", WAIT_S, after=after)
            time.sleep(INTERRUPT_AFTER_S)
            written = session.send(interrupt_line("bench"))
            answer = session.wait_event(lambda e: e.type == "control_response", WAIT_S)
            cut = session.wait_result(WAIT_S, after=after)
            figures["interrupt written → control_response"].append(answer.at - written)
            figures["interrupt written → result"].append(cut.at - written)
            next_line = session.send(user_line("next"))
            following = session.wait_result(WAIT_S, after=session.events.index(cut) + 1)
            figures["next line written → its result"].append(following.at - next_line)
            session.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args(argv)
    if not PINNED_CLAUDE_BIN.exists():
        print("the pinned CLI is missing: run `make setup` (npm ci in infra/claude_code)")
        return 1
    figures: dict[str, list[float]] = {
        name: []
        for name in (
            "start → first model request",
            "tool result → echo of the steered line",
            "echo → model request carrying it",
            "interrupt written → control_response",
            "interrupt written → result",
            "next line written → its result",
        )
    }
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.reps):
            work = Path(tmp) / f"work{rep}"
            work.mkdir()
            one_rep(Path(tmp) / f"home{rep}", work, figures)
    print(f"| what | reps | median | max |  ({args.reps} CLI processes)")
    print("|---|---|---|---|")
    for name, values in figures.items():
        median, worst = statistics.median(values) * 1000, max(values) * 1000
        print(f"| {name} | {len(values)} | {median:.0f} ms | {worst:.0f} ms |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
