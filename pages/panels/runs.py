"""The runs tab: every step run, its status and cost; open its conversation or cancel it."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.agents import persona
from core.client import ApiError
from core.models import AgentRun
from core.models import utc_now as now
from pages.lib.api import api_guard, get_client, show_error
from pages.lib.metrics import format_cost, format_duration, run_elapsed
from pages.panels.common import open_and_rerun


def run_row(run: AgentRun, feature: str) -> dict[str, object]:
    usage = run.usage
    return {
        "agent": f"{persona(run.role).mascot} {persona(run.role).name}",
        "role": run.role.value,
        "feature": feature,
        "step": run.step,
        "attempt": run.attempt,
        "status": run.status.value,
        "working": format_duration(run_elapsed(run, now())),
        "turns": usage.turns if usage else None,
        "tokens in": usage.input_tokens if usage else None,
        "tokens out": usage.output_tokens if usage else None,
        "cost": (format_cost(usage.cost_usd) if usage.priced else "tokens only") if usage else "",
        "started": run.started_at,
        "ended": run.completed_at or "",
        "error": run.error_message or "",
    }


def runs_panel(project_id: str) -> None:
    client = get_client()
    with api_guard():
        runs = client.list_runs(project_id)
        features = {f.id: f.name for f in client.list_features(project_id)}
    if not runs:
        st.caption("No runs yet.")
        return
    st.dataframe(
        pd.DataFrame([run_row(r, features.get(r.feature_id, r.feature_id)) for r in runs]),
        hide_index=True,
        width="stretch",
    )
    choice = st.selectbox(
        "Run",
        runs,
        format_func=lambda r: (
            f"{persona(r.role).name} · {features.get(r.feature_id, r.feature_id)} · "
            f"step {r.step} · {r.status.value}"
        ),
        key="oma_run_choice",
    )
    if choice is None:
        return
    left, right = st.columns(2)
    if left.button("Open conversation", key="oma_run_open", width="stretch"):
        open_and_rerun(choice.feature_id)
    if right.button(
        "Cancel run", key="oma_run_cancel", disabled=not choice.is_active, width="stretch"
    ):
        try:
            client.cancel_run(choice.id)
            st.toast("Run cancelled.")
            st.rerun()
        except ApiError as error:
            show_error(error)
