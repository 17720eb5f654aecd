"""The dashboard's gate: local by default, a password when it listens on the network.

Why: the dashboard is an operator console — every page acts with the operator
token — so anyone who can reach it can drive every agent. The shipped
``.streamlit/config.toml`` binds it to 127.0.0.1. Listening anywhere else
(``--server.address``, ``STREAMLIT_SERVER_ADDRESS`` or the config file; Streamlit
resolves them into ``server.address``) needs ``OMAKASE_DASHBOARD_PASSWORD``:
with it, every session enters the password before any page renders; without
it the dashboard refuses to serve and stops its server. The comparison is
constant-time.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging

import streamlit as st

from core.settings import DASHBOARD_PASSWORD_ENV, ClientSettings

log = logging.getLogger(__name__)

PASSWORD_ENV = DASHBOARD_PASSWORD_ENV
#: Session-state key set once the session entered the right password.
UNLOCKED_KEY = "oma_dashboard_unlocked"
LOCALHOST_NAMES = frozenset({"localhost"})
REFUSAL = (
    "This dashboard listens on {address}, beyond this machine, and "
    f"{PASSWORD_ENV} is not set: it refuses to serve the operator console to the "
    "network. Set a password, or listen on 127.0.0.1 (the default)."
)
WRONG_PASSWORD = "That password is not right."  # noqa: S105 - a sentence


def is_loopback(address: str) -> bool:
    """True when ``address`` is reachable from this machine only ("" means every interface)."""
    if address.lower() in LOCALHOST_NAMES:
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False  # "", a host name or anything else: assume the network


def exposure_problem(address: str, *, password: str) -> str | None:
    """The refusal sentence when the dashboard would be exposed without a password."""
    if is_loopback(address) or password:
        return None
    return REFUSAL.format(address=address or "*")


def password_matches(given: str, expected: str) -> bool:
    if not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def _stop_server() -> None:
    """Stop the Streamlit server this script runs in (none under AppTest)."""
    from streamlit.runtime import Runtime

    if Runtime.exists():
        Runtime.instance().stop()


def guard_dashboard() -> None:
    """Call first in ``dashboard.py``: stops the script unless this session may see pages."""
    address = str(st.get_option("server.address") or "")
    password = ClientSettings.from_env().dashboard_password
    problem = exposure_problem(address, password=password)
    if problem is not None:
        log.critical(problem)
        st.error(problem)
        _stop_server()
        st.stop()
    if is_loopback(address) or st.session_state.get(UNLOCKED_KEY):
        return
    with st.form("oma_dashboard_password"):
        given = st.text_input("Dashboard password", type="password")
        submitted = st.form_submit_button("Open the dashboard")
    if submitted and password_matches(given, password):
        st.session_state[UNLOCKED_KEY] = True
        st.rerun()
    if submitted:
        st.error(WRONG_PASSWORD)
    st.stop()
