"""Path parameters shared by the routers (validated once, documented once)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from core.models import CLIENT_ID_PATTERN, ENTITY_ID_PATTERN

ProjectId = Annotated[str, Path(alias="projectId", pattern=ENTITY_ID_PATTERN)]
FeatureId = Annotated[str, Path(alias="featureId", pattern=ENTITY_ID_PATTERN)]
RunId = Annotated[str, Path(alias="runId", pattern=ENTITY_ID_PATTERN)]
MessageId = Annotated[str, Path(alias="messageId", pattern=CLIENT_ID_PATTERN)]
