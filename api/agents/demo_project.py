"""The demo project ``make run`` creates on a fresh store, so a new user sees agents at work.

Created through the HTTP API (as any client would), only when the store has no
project yet and the runner is the demo one: with a real agent command, made-up
features would start real agents. The first feature uses shorter steps, so its
agents are visibly busy within seconds; one feature asks for changes once, so
the review cycle shows up too. Its repository is a real one (``demo_repo``):
the scripted agents change real files in it (``demo_work``), so every step
has a diff and a passing feature can be merged.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import httpx
import pygit2

from api.agents.demo_repo import DEMO_BRANCH, make_demo_repository

DEMO_PROJECT = {
    "name": "Ramen shop (demo)",
    "description": "A demo project: scripted agents, no LLM. Open a running agent to chat.",
    "maxConcurrency": 2,
}
#: (name, description, priority, names of dependencies)
DEMO_FEATURES: tuple[tuple[str, str, int, tuple[str, ...]], ...] = (
    ("Menu page", "Show today's bowls with prices and allergens. [step-seconds=8]", 10, ()),
    ("Order API", "POST /orders with validation and a kitchen ticket. [ask-architect]", 20, ()),
    (
        "Kitchen display",
        "Live ticket board for the kitchen. [request-changes]",
        30,
        ("Order API",),
    ),
    ("Loyalty stamps", "Ten bowls, one free: stamp cards on receipts.", 40, ("Menu page",)),
)
HTTP_TIMEOUT_S = 10.0
#: Features added, one at a time, whenever the demo project has nothing left to do,
#: so a user who opens the dashboard later still finds agents at work.
DEMO_ENCORES: tuple[tuple[str, str], ...] = (
    ("Table booking", "Reserve a counter seat for a time slot."),
    ("Allergen filter", "Hide bowls with the allergens a guest picks. [request-changes]"),
    ("Receipt printer", "Print kitchen tickets and receipts."),
    ("Broth stock alerts", "Warn the chef before a broth runs out."),
)
MOVING_STATUSES = frozenset({"pending", "in_progress"})


def seed_enabled() -> bool:
    runner = os.environ.get("OMAKASE_RUNNER", "demo").strip().lower()
    return runner == "demo" and os.environ.get("OMAKASE_DEMO_PROJECT", "1") != "0"


def seed_demo_project(
    api_url: str, token: str, *, repository: Path | None = None
) -> dict[str, Any] | None:
    """Create the demo project and its features unless a project exists; returns it.

    ``repository``: where the demo's git repository is made (``demo_repo``) and
    which the project points at, so its agents change real files on branches.
    A failure is reported and ignored: the service runs fine without a demo.
    """
    if not seed_enabled():
        return None
    try:
        return _seed(api_url, token, repository)
    except (httpx.HTTPError, OSError, pygit2.GitError) as error:
        print(f"warning: could not create the demo project: {error}", file=sys.stderr)
        return None


def _seed(api_url: str, token: str, repository: Path | None) -> dict[str, Any] | None:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=api_url, headers=headers, timeout=HTTP_TIMEOUT_S) as client:
        existing = client.get("/api/projects")
        existing.raise_for_status()
        if existing.json():
            return None
        body: dict[str, Any] = dict(DEMO_PROJECT)
        if repository is not None:
            body["repository"] = str(make_demo_repository(repository.resolve()))
            body["baseBranch"] = DEMO_BRANCH
        created = client.post("/api/projects", json=body)
        created.raise_for_status()
        project: dict[str, Any] = created.json()
        ids: dict[str, str] = {}
        for name, description, priority, needs in DEMO_FEATURES:
            response = client.post(
                f"/api/projects/{project['id']}/features",
                json={
                    "name": name,
                    "description": description,
                    "priority": priority,
                    "dependencies": [ids[n] for n in needs],
                },
            )
            response.raise_for_status()
            ids[name] = response.json()["id"]
        return project


def top_up_demo_project(api_url: str, token: str) -> str | None:
    """Add the next encore feature if the demo project has nothing pending or running.

    Returns the new feature's name, or None (nothing needed, no demo, or the API
    was unreachable: a demo top-up is never worth failing ``make run`` for).
    """
    if not seed_enabled():
        return None
    headers = {"Authorization": f"Bearer {token}"}
    try:
        with httpx.Client(base_url=api_url, headers=headers, timeout=HTTP_TIMEOUT_S) as client:
            return top_up(client)
    except httpx.HTTPError:
        return None


def top_up(client: httpx.Client) -> str | None:
    projects = client.get("/api/projects")
    projects.raise_for_status()
    demo = next((p for p in projects.json() if p["name"] == DEMO_PROJECT["name"]), None)
    if demo is None:
        return None
    features = client.get(f"/api/projects/{demo['id']}/features")
    features.raise_for_status()
    if any(f["status"] in MOVING_STATUSES for f in features.json()):
        return None
    extra = len(features.json()) - len(DEMO_FEATURES)
    name, description = DEMO_ENCORES[max(extra, 0) % len(DEMO_ENCORES)]
    round_number = max(extra, 0) // len(DEMO_ENCORES) + 1
    title = name if round_number == 1 else f"{name} (round {round_number})"
    created = client.post(
        f"/api/projects/{demo['id']}/features",
        json={"name": title, "description": description, "priority": 50},
    )
    created.raise_for_status()
    return title
