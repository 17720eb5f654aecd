"""What to send a live agent step, and when: the session logic of every live runner.

The step is one CLI process with its input kept open (Claude Code, codex
app-server); how a message is written is the runner's ``AgentChannel``. This
class decides:

* **start**: the role prompt is the first user line (its uuid is ours too);
* **steer**: a user message is written to the input at once (its receipt goes
  ``sent``); the CLI injects it at its next tool boundary and echoes it back
  (``isReplay`` with our uuid) — that echo, from the agent itself, is what makes
  the receipt ``delivered`` (channel ``live``);
* **interrupt**: the message first (queued in the CLI), then an interrupt
  control request (the running tool is cut short and the turn ends with
  ``error_during_execution``, which is not a failure); the queued message
  starts the next turn at once (written after the interrupt, it could miss that
  turn and wait for the next tool boundary: docs/BENCHMARKS.md);
* **end of step**: when a turn ends and nothing is pending for the agent (no
  message written and not yet taken, none waiting to be written, none new in
  the store), the input is closed and the CLI exits. A message that arrives
  after the last turn but before the input closed starts one more turn (at most
  ``MAX_EXTRA_TURNS``); after that, or once the input is closed, messages wait
  for the next step (the v1 relay) and their receipts say so.

Store effects (chat messages, receipts, phases, cost) go through
``SessionEffects``, so this logic is unit-tested without a store or a CLI.
One session thread writes to the agent; the log pump's thread feeds events in.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from api.agents.hops import hop
from api.agents.live import events as ev
from api.agents.live.channel import AgentChannel, TransportClosedError
from api.agents.live.contract import SessionEffects, is_live_eligible, message_uuid
from core.models import AgentMessage, AgentRunStatus, DeliveryMode, RunUsage

log = logging.getLogger(__name__)

#: Turns a message may start after the agent had finished its work (late messages).
MAX_EXTRA_TURNS = 3
#: How often the session looks in the store for messages posted through another API
#: process (messages posted through this one arrive at once, from the message bus).
LIVE_POLL_S = 1.0
#: After a turn ends with a message written but not yet taken, how long to wait for
#: the CLI to start the turn that takes it before ending the step anyway.
UNTAKEN_GRACE_S = 15.0
#: The MCP tool during which the agent waits for the person: no phase changes then.
ASK_TOOL_SUFFIX = "ask_human"


@dataclass
class TurnState:
    running: bool = False
    texts: list[str] = field(default_factory=list)
    phase_reported: AgentRunStatus | None = None
    asking: set[str] = field(default_factory=set)


class LiveSession:
    def __init__(
        self,
        *,
        channel: AgentChannel,
        effects: SessionEffects,
        prompt: str,
        work_phase: AgentRunStatus,
        poll_s: float = LIVE_POLL_S,
        untaken_grace_s: float = UNTAKEN_GRACE_S,
    ) -> None:
        self._transport = channel
        self._effects = effects
        self._prompt = prompt
        self._work_phase = work_phase
        self._poll_s = poll_s
        self._untaken_grace_s = untaken_grace_s
        self._cond = threading.Condition()
        self._inbox: deque[AgentMessage] = deque()
        self._seen: set[str] = set()
        #: uuid → message written and not yet echoed by the agent.
        self._untaken: dict[str, AgentMessage] = {}
        self._turn = TurnState()
        self._turn_ended = False
        self._turn_ended_at = 0.0
        self._interrupts_in_flight = 0
        self._extra_turns = 0
        self._total = RunUsage()
        self._last_phase: AgentRunStatus | None = None
        self._thread = threading.Thread(target=self._loop, name="live-session", daemon=True)
        self._stopping = False
        #: Why the step failed (a turn that was not a success and not our interrupt).
        self.failure: str | None = None
        #: The final text of the last successful turn (the reviewer's verdict may be in it).
        self.final_text = ""
        self.turns_started = 0

    # --- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        """Write the role prompt (the first turn) and start the session thread.

        A CLI that died at once (bad binary, bad arguments) closed its input: the
        step then ends with the process's exit code, which the monitor reports.
        """
        try:
            self._transport.begin(self._prompt)
        except TransportClosedError:
            log.warning("the agent's input closed before the prompt was written")
            return
        self._begin_turn()
        self._thread.start()

    def stop(self) -> None:
        """The step is over (exit, cancel, timeout): stop writing, close the input."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._transport.close()

    @property
    def usage_total(self) -> RunUsage:
        return self._total

    @property
    def untaken(self) -> list[AgentMessage]:
        """Messages written to the agent that it never took (they go to the next step)."""
        with self._cond:
            return list(self._untaken.values())

    # --- messages in ------------------------------------------------------------------

    def offer(self, message: AgentMessage, *, pushed: bool = False) -> None:
        """A user message for this run (``pushed`` by the bus, or from the store poll);
        never blocks on I/O."""
        hop("offered", message.id)
        if not is_live_eligible(message, pushed=pushed):
            return
        with self._cond:
            if message.id in self._seen:
                return
            self._seen.add(message.id)
            self._inbox.append(message)
            self._cond.notify_all()

    # --- events out of the agent (the log pump's thread) ------------------------------

    def handle_line(self, line: str) -> list[str]:
        events = self._transport.parse(line)
        if events is None:
            return [line] if line.strip() else []
        shown: list[str] = []
        for event in events:
            self._handle(event)
            shown += ev.log_lines(event)
        return shown

    def _handle(self, event: ev.Event) -> None:
        if isinstance(event, ev.ControlResponse):
            hop("control_response", event.request_id.removeprefix("interrupt-"))
        elif isinstance(event, ev.TurnResult):
            hop("turn_result", event.subtype)
        if isinstance(event, ev.Replay):
            with self._cond:
                message = self._untaken.pop(event.uuid, None)
                self._turn.running = True  # the CLI took it: a turn is on
                self._cond.notify_all()  # the session thread may wait for this (_after_turn)
            if message is not None:
                self._effects.delivered(message)
        elif isinstance(event, ev.Text):
            with self._cond:
                self._turn.running = True
                self._turn.texts.append(event.text)
        elif isinstance(event, ev.ToolUse):
            self._tool_started(event)
        elif isinstance(event, ev.ToolResult):
            with self._cond:
                self._turn.asking.discard(event.tool_id)
        elif isinstance(event, ev.TurnResult):
            self._turn_result(event)

    def _tool_started(self, event: ev.ToolUse) -> None:
        with self._cond:
            self._turn.running = True
            if event.name.endswith(ASK_TOOL_SUFFIX):
                self._turn.asking.add(event.tool_id)
                return
            if self._turn.asking:
                return
        self._report_phase(self._work_phase)

    def _turn_result(self, event: ev.TurnResult) -> None:
        with self._cond:
            texts = self._turn.texts
            self._turn = TurnState()
            forgiven = not event.ok and self._interrupts_in_flight > 0
            if self._interrupts_in_flight:
                self._interrupts_in_flight -= 1
            if not event.ok and not forgiven and self.failure is None:
                detail = f": {event.text.strip()[:300]}" if event.text.strip() else ""
                self.failure = f"{self._transport.name} ended a turn with '{event.subtype}'{detail}"
            if event.ok:
                self.final_text = event.text
            self._turn_ended = True
            self._turn_ended_at = time.monotonic()
            self._cond.notify_all()
        said = "\n\n".join(t.strip() for t in texts if t.strip()) or event.text.strip()
        if said and not forgiven:
            self._effects.say(said)
        self._total = self._total.plus(event.usage)
        self._effects.usage(self._total)

    # --- the session thread: writes to the agent --------------------------------------

    def _begin_turn(self) -> None:
        self.turns_started += 1
        with self._cond:
            self._turn.running = True
            self._turn_ended = False
        self._report_phase(AgentRunStatus.THINKING)

    def _report_phase(self, status: AgentRunStatus) -> None:
        if status is self._last_phase:
            return
        self._last_phase = status
        self._effects.phase(status)

    def _loop(self) -> None:
        next_poll = time.monotonic() + self._poll_s
        while True:
            with self._cond:
                if self._stopping or self._transport.closed:
                    return
                if not self._inbox and not self._turn_ended:
                    self._cond.wait(timeout=max(0.0, next_poll - time.monotonic()))
                batch = list(self._inbox)
                self._inbox.clear()
                turn_ended = self._turn_ended
            try:
                if time.monotonic() >= next_poll:
                    next_poll = time.monotonic() + self._poll_s
                    for message in self._effects.new_user_messages():
                        self.offer(message)
                for message in batch:
                    self._write(message)
                if turn_ended:
                    self._after_turn()
            except TransportClosedError:
                return
            except Exception:  # a store hiccup: try again at the next poll
                log.exception("live session: could not act; retrying")
                with self._cond:
                    self._inbox.extendleft(reversed(batch))
                time.sleep(self._poll_s)

    def _write(self, message: AgentMessage) -> None:
        with self._cond:
            idle = not self._turn.running
            if idle and self._extra_turns >= MAX_EXTRA_TURNS and self.turns_started > 0:
                return  # stays queued: the next step gets it (relay)
            if self.failure is not None:
                return
        cut = message.mode is DeliveryMode.INTERRUPT and not idle
        # Claude Code: the message goes in BEFORE the control request: queued in the CLI,
        # it starts the turn after the cut one (docs/CLAUDE_STREAM.md, fact 6). Written
        # after, it could miss that turn and wait for the next tool boundary (~1 s: the
        # interrupt tail bench/live_steering.py traced). Codex: interrupt, then a new turn.
        before = cut and self._transport.message_before_interrupt
        if cut and not before:
            with self._cond:
                self._interrupts_in_flight += 1
            self._transport.interrupt(f"interrupt-{message.id}")
            hop("interrupt_written", message.id)
        stored = self._effects.sending(message)
        if stored is None:
            return  # withdrawn meanwhile: never written (nor anything interrupted)
        uuid = message_uuid(message.id)
        with self._cond:
            self._untaken[uuid] = stored
            if before:
                self._interrupts_in_flight += 1
        self._transport.send_message(stored.content, uuid=uuid, idle=idle)
        hop("line_written", message.id)
        if before:
            self._transport.interrupt(f"interrupt-{message.id}")
            hop("interrupt_written", message.id)
        if idle:
            self._extra_turns += 1
            self._begin_turn()
        self._effects.sent(stored)

    def _after_turn(self) -> None:
        """A turn ended: end the step unless something is still pending for the agent."""
        with self._cond:
            if self._turn.running:  # a new turn started meanwhile
                self._turn_ended = False
                return
            failed = self.failure is not None
            untaken = bool(self._untaken)
            waited = time.monotonic() - self._turn_ended_at
        if not failed and untaken and waited < self._untaken_grace_s:
            # The CLI starts a turn for it (a text-only turn has no tool boundary). Wait
            # on the condition, not a sleep: a message offered meanwhile (a steer, an
            # interrupt) is written at once, and the echo ends the wait.
            with self._cond:
                if not self._inbox and not self._turn.running and not self._stopping:
                    self._cond.wait(timeout=min(self._poll_s, self._untaken_grace_s - waited))
            return
        if not failed:
            for message in self._effects.new_user_messages():
                self.offer(message)
            with self._cond:
                late = list(self._inbox)
                self._inbox.clear()
            for message in late:
                self._write(message)
            with self._cond:
                if self._turn.running:
                    self._turn_ended = False
                    return
        with self._cond:
            self._turn_ended = False
        self._transport.close()
