"""Named condition expressions the store's guarded writes are built from.

Each table's key attribute decides what "the item exists" means: ``id`` for
projects, features and runs, ``projectId`` for agents, ``runId`` for messages.
Composite guards are written as ``f"{ITEM_EXISTS} AND ..."`` next to their use.
"""

from __future__ import annotations

#: Projects, features, runs: a put that must not overwrite an existing item.
ITEM_IS_NEW = "attribute_not_exists(id)"
#: Projects, features, runs: an update that must not create a missing item.
ITEM_EXISTS = "attribute_exists(id)"
AGENT_IS_NEW = "attribute_not_exists(projectId)"
AGENT_EXISTS = "attribute_exists(projectId)"
#: Messages: the sequence key ``(runId, cursor)`` is not taken yet.
MESSAGE_KEY_IS_FREE = "attribute_not_exists(runId)"
MESSAGE_EXISTS = "attribute_exists(runId)"
