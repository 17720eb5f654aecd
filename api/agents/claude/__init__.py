"""The ``claude`` runner: one Claude Code process per step, steered live.

* ``transport``: the stream-json lines we write (``ClaudeChannel``);
* ``events``: what a stdout line means, and how it reads in the log viewer;
* the session, its effects and the verdict are shared with codex (``api.agents.live``);
* ``prompts``: the role prompt a step starts with (codex steps use it too);
* ``runner``: the command line and environment of a step.
"""
