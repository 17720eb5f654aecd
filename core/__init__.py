"""Shared models and helpers for the Omakase agent chat (API, dashboard, clients)."""
