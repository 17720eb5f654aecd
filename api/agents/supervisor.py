"""The agent supervisor: the background service that runs pipelines in this API process.

It owns three loops, each a small module of its own:

* heartbeat (``api.store.workers``): this process is alive, so its claims hold;
* monitor (``api.agents.monitor``): step processes and user messages, every
  ``monitor_interval_seconds``;
* feature watcher (``api.agents.watcher``): claim and start (or resume) features.

At a clean shutdown it stops its steps' processes, marks their runs failed
("Interrupted: …", so the chat says why), releases its claims and removes its
heartbeat: another process (or this one restarted) resumes each pipeline at
the interrupted step, and no message is lost or relayed twice (the relay
cursors are on the feature item). After a crash the same happens once the
heartbeat is older than the stale threshold.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from anyio import to_thread

from api.agents.monitor import check_step
from api.agents.pipeline import FeaturePipeline
from api.agents.start_now import FeatureNotStartableError as FeatureNotStartableError
from api.agents.start_now import claim_now
from api.agents.steps import INTERRUPTED_BY_SHUTDOWN, ActiveStep, conclude
from api.agents.watcher import Work, find_work
from api.runtime import Runtime
from api.store.claims import ClaimLostError, finish_pipeline, release_claim
from api.store.errors import StoreUnavailableError
from api.store.ids import new_id
from api.store.workers import beat, remove_heartbeat
from core.models import AgentStatus, Feature, FeatureStatus, iso, utc_now

log = logging.getLogger(__name__)

#: A worker whose heartbeat is older than this many monitor intervals is gone...
HEARTBEAT_STALE_INTERVALS = 6
#: ...but never sooner than this (a GC pause or a slow store call is not a death).
HEARTBEAT_STALE_MIN_S = 3.0
#: A pipeline that crashes this often in this process (a bug, not the store) fails.
MAX_PIPELINE_CRASHES = 3
MAX_CRASH_MESSAGE_CHARS = 1_000


class AgentSupervisor:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.db = runtime.db
        self.bus = runtime.bus
        self.settings = runtime.settings
        self.agent_secret = runtime.agent_secret
        self.owner_id = new_id("wrk")
        self.started_at = iso(utc_now())
        self.workspace_root = Path(self.settings.workspace_root).resolve()
        self.interval = self.settings.monitor_interval_seconds
        self.stale_s = max(HEARTBEAT_STALE_MIN_S, HEARTBEAT_STALE_INTERVALS * self.interval)
        self.pipelines: dict[str, FeaturePipeline] = {}
        self.steps: dict[str, ActiveStep] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._loops: list[asyncio.Task[None]] = []
        self._stopping = False
        self._crashes: dict[str, int] = {}
        self._woken: set[asyncio.Future[None]] = set()

    # --- PipelineHost ---------------------------------------------------------------

    def register(self, step: ActiveStep) -> None:
        self.steps[step.run.id] = step

    def unregister(self, step: ActiveStep) -> None:
        self.steps.pop(step.run.id, None)

    def wake(self, step: ActiveStep) -> None:
        """Called from a step's log thread when its process ended: conclude it now."""

        def _check() -> None:
            if not self._stopping:
                task = asyncio.ensure_future(
                    to_thread.run_sync(check_step, self.db, self.bus, step)
                )
                self._woken.add(task)
                task.add_done_callback(self._woken.discard)

        with contextlib.suppress(RuntimeError):  # the loop is closed: shutting down
            step.loop.call_soon_threadsafe(_check)

    # --- Service --------------------------------------------------------------------

    async def start(self) -> None:
        self.workspace_root.mkdir(parents=True, exist_ok=True)
        await to_thread.run_sync(self._beat)
        self._loops = [
            asyncio.create_task(self._every(self._beat_async), name="agents-heartbeat"),
            asyncio.create_task(self._every(self.monitor_tick), name="agents-monitor"),
            asyncio.create_task(self._every(self.watch_tick), name="agents-watcher"),
        ]
        log.info("agent supervisor %s started (runner %s)", self.owner_id, self.settings.runner)

    async def stop(self) -> None:
        self._stopping = True
        for task in self._loops:
            task.cancel()
        for task in list(self._tasks.values()):
            task.cancel()
        # Waits for worker threads in flight (a step being started registers itself).
        await asyncio.gather(*self._loops, *self._tasks.values(), return_exceptions=True)
        steps = list(self.steps.values())
        await asyncio.gather(
            *(to_thread.run_sync(self._interrupt, s) for s in steps), return_exceptions=True
        )
        for feature_id in list(self.pipelines):
            with contextlib.suppress(Exception):
                await to_thread.run_sync(self._release, feature_id)
        with contextlib.suppress(Exception):
            await to_thread.run_sync(lambda: remove_heartbeat(self.db, worker_id=self.owner_id))
        log.info("agent supervisor %s stopped", self.owner_id)

    def _interrupt(self, step: ActiveStep) -> None:
        if not step.begin_concluding():
            return
        conclude(self.db, self.bus, step, error=INTERRUPTED_BY_SHUTDOWN)
        pipeline = self.pipelines.get(step.run.feature_id)
        if pipeline is not None:
            pipeline.set_agent_idle(step.run, AgentStatus.STOPPED)

    def _release(self, feature_id: str) -> None:
        release_claim(self.db, feature_id=feature_id, owner_id=self.owner_id)

    async def _every(self, tick: Callable[[], Awaitable[None]]) -> None:
        while True:
            try:
                await tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("agent supervisor: %s failed; retrying next interval", tick)
            await asyncio.sleep(self.interval)

    # --- loops ----------------------------------------------------------------------

    def _beat(self) -> None:
        beat(
            self.db,
            worker_id=self.owner_id,
            started_at=self.started_at,
            address=self.settings.wake_address,
        )

    async def _beat_async(self) -> None:
        await to_thread.run_sync(self._beat)

    async def monitor_tick(self) -> None:
        # Steps first: a step found over is marked concluding before its inbox is looked at.
        steps = list(self.steps.values())
        results = await asyncio.gather(
            *(to_thread.run_sync(check_step, self.db, self.bus, s) for s in steps),
            return_exceptions=True,
        )
        pipelines = list(self.pipelines.values())
        results += await asyncio.gather(
            *(to_thread.run_sync(p.refresh_inbox) for p in pipelines),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException):
                log.warning("monitor: %s", result)

    async def watch_tick(self) -> None:
        work = await to_thread.run_sync(
            lambda: find_work(
                self.db,
                owner_id=self.owner_id,
                running=set(self.pipelines),
                auto_start=self.settings.auto_start_features,
                stale_s=self.stale_s,
            )
        )
        for item in work:
            self.launch(item)

    # --- pipelines ------------------------------------------------------------------

    def launch(self, work: Work) -> None:
        feature_id = work.claim.feature.id
        if self._stopping or feature_id in self.pipelines:
            return
        pipeline = FeaturePipeline(self, work.claim, takeover_error=work.takeover_error)
        self.pipelines[feature_id] = pipeline
        task = asyncio.create_task(self._drive(pipeline), name=f"pipeline-{feature_id}")
        self._tasks[feature_id] = task

    async def _drive(self, pipeline: FeaturePipeline) -> None:
        feature_id = pipeline.feature_id
        try:
            await pipeline.run()
        except asyncio.CancelledError:
            raise  # shutdown: stop() interrupts the step and releases the claim
        except ClaimLostError:
            log.warning("feature %s: another process took the pipeline over", feature_id)
            await self._abandon(pipeline, interrupt=False, release=False)
        except StoreUnavailableError:
            log.warning("feature %s: store unreachable; releasing it for a resume", feature_id)
            await self._abandon(pipeline, interrupt=True, release=True)
        except Exception as error:
            log.exception("feature %s: pipeline crashed", feature_id)
            crashes = self._crashes.get(feature_id, 0) + 1
            self._crashes[feature_id] = crashes
            await self._abandon(pipeline, interrupt=True, release=crashes < MAX_PIPELINE_CRASHES)
            if crashes >= MAX_PIPELINE_CRASHES:
                await self._give_up(feature_id, f"The pipeline crashed {crashes} times: {error}")
        finally:
            if not self._stopping:
                self.pipelines.pop(feature_id, None)
                self._tasks.pop(feature_id, None)
                for run_id, step in list(self.steps.items()):
                    if step.run.feature_id == feature_id:
                        self.steps.pop(run_id, None)

    async def _give_up(self, feature_id: str, message: str) -> None:
        """A pipeline that keeps crashing (a bug, not the store) fails its feature."""
        with contextlib.suppress(Exception):
            await to_thread.run_sync(
                lambda: finish_pipeline(
                    self.db,
                    feature_id=feature_id,
                    owner_id=self.owner_id,
                    status=FeatureStatus.FAILING,
                    error_message=message[:MAX_CRASH_MESSAGE_CHARS],
                )
            )

    async def _abandon(self, pipeline: FeaturePipeline, *, interrupt: bool, release: bool) -> None:
        """Stop the pipeline's step (failing its run when ``interrupt``); maybe release it."""
        step = pipeline.active
        if step is not None and interrupt:
            with contextlib.suppress(Exception):
                await to_thread.run_sync(self._interrupt, step)
        elif step is not None:
            await to_thread.run_sync(step.process.stop)  # the new owner concludes the run
        if release:
            with contextlib.suppress(Exception):
                await to_thread.run_sync(self._release, pipeline.feature_id)

    # --- routes ---------------------------------------------------------------------

    async def start_feature(self, feature_id: str, *, override: bool = False) -> Feature:
        """``POST /api/features/{id}/start``: claim a pending feature and run it now.

        Within the project's ``maxConcurrency`` (409 ``ProjectFullError`` when it is
        full), or past it when ``override`` (recorded as ``startedOverLimit``).
        """
        auto_start = self.runtime.settings.auto_start_features
        claim = await to_thread.run_sync(
            lambda: claim_now(
                self.db,
                feature_id=feature_id,
                owner_id=self.owner_id,
                override=override,
                auto_start=auto_start,
            )
        )
        self.launch(Work(claim=claim, takeover_error=INTERRUPTED_BY_SHUTDOWN))
        return claim.feature

    async def stop_step(self, run_id: str) -> bool:
        """End the process of a step this process runs (cancel); False if it is not here."""
        step = self.steps.get(run_id)
        if step is None:
            return False
        await to_thread.run_sync(step.live.cancel if step.live else step.process.stop)
        await to_thread.run_sync(check_step, self.db, self.bus, step)
        return True


def find_supervisor(runtime: Runtime) -> AgentSupervisor | None:
    for service in runtime.services:
        if isinstance(service, AgentSupervisor):
            return service
    return None


def install_agent_supervisor(runtime: Runtime) -> None:
    """Service factory (``api.app.default_service_factories``)."""
    runtime.services.append(AgentSupervisor(runtime))
