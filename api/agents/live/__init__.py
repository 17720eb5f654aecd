"""What every live runner shares (claude, codex): the agent kept open for a whole step.

* ``events``: what an agent did (text, tool calls, the echo of our message, a turn's end);
* ``channel``: how a session writes to one CLI (``AgentChannel``, ``JsonLines``);
* ``session``: what to send when (steer, interrupt, one more turn, end of step);
* ``effects``: the session's effects on the service (chat, receipts, phases, cost);
* ``step``: the running step the pipeline holds; ``verdict``: its end as an exit code;
* ``runners``: which runner starts a step (the pipeline's one dispatch).
"""
