"""The ``claude`` runner: one Claude Code process per step, steered live.

* ``transport``: the subprocess and its JSON lines (stdin writes, stdout events);
* ``events``: what a stdout line means, and how it reads in the log viewer;
* ``session``: what to send when (steer, interrupt, one more turn, end of step);
* ``effects``: the session's effects on the service (chat, receipts, phases, cost);
* ``prompts`` / ``verdict``: the role prompt a step starts with, the reviewer's verdict;
* ``runner``: the command line and environment of a step.
"""
