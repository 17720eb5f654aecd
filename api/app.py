"""The FastAPI app factory and its lifespan.

``create_app`` takes optional settings and an optional ``Db`` so tests inject a
moto client or the local engine; ``python -m api`` builds both from the
environment. On a local endpoint, missing tables are created at start-up; on
AWS they come from the infra stack.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from api.body_limit import BodyLimitMiddleware
from api.errors import install_error_handlers
from api.routes import api_router, health
from api.runtime import Runtime, build_runtime
from api.settings import Settings, get_settings
from api.store.db import Db, ensure_tables, make_db

log = logging.getLogger(__name__)

#: Hooks that add background services to a runtime (stream hub, monitor, ...).
ServiceFactory = Callable[[Runtime], None]


def create_app(
    settings: Settings | None = None,
    db: Db | None = None,
    *,
    service_factories: tuple[ServiceFactory, ...] | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    runtime = build_runtime(settings, db or make_db(settings))
    factories = default_service_factories() if service_factories is None else service_factories

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.is_local_store:
            created = await run_in_threadpool(ensure_tables, runtime.db)
            if created:
                log.info("created tables: %s", ", ".join(created))
        for factory in factories:
            factory(runtime)
        started = []
        try:
            for service in runtime.services:
                await service.start()
                started.append(service)
            yield
        finally:
            for service in reversed(started):
                await service.stop()
            runtime.services.clear()

    app = FastAPI(
        title="Omakase agent chat API",
        version="1.0.0",
        description=(
            "Chat with Omakase's coding agents while they run. Every `/api` route needs "
            "`Authorization: Bearer <token>`."
        ),
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware)
    app.include_router(health.router)
    app.include_router(api_router)
    return app


def default_service_factories() -> tuple[ServiceFactory, ...]:
    """The background services a full API process runs."""
    from api.agents.supervisor import install_agent_supervisor
    from api.streaming.hub import add_stream_hub

    return (add_stream_hub, install_agent_supervisor)
