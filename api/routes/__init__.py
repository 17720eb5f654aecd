"""HTTP routes: one small router per resource. ``api_router`` requires a token."""

from fastapi import APIRouter, Depends

from api.deps import get_principal
from api.errors import ERROR_RESPONSES
from api.routes import (
    changes,
    conversation,
    features,
    logs,
    messages,
    pipeline,
    projects,
    questions,
    run_status,
    runs,
    stream,
    wake,
)

api_router = APIRouter(
    prefix="/api", dependencies=[Depends(get_principal)], responses=ERROR_RESPONSES
)
api_router.include_router(projects.router)
api_router.include_router(features.router)
api_router.include_router(runs.router)
api_router.include_router(logs.router)
api_router.include_router(messages.router)
api_router.include_router(questions.router)
api_router.include_router(stream.router)
api_router.include_router(run_status.router)
api_router.include_router(pipeline.router)
api_router.include_router(conversation.router)
api_router.include_router(changes.router)
api_router.include_router(wake.router)
