"""The ``codex`` runner: one ``codex app-server`` process per step, steered live.

* ``protocol``: the app-server messages we use, typed from the pinned CLI's schema;
* ``channel``: JSON-RPC out, the shared live events in (``api.agents.live``);
* ``runner``: the command line, CODEX_HOME and login of a step.
"""
