"""UI helpers of the dashboard pages.

``thread`` is pure (no Streamlit): the chat thread's state and its HTML, so the
logic is unit-tested and benchmarked without a browser. The others render with
Streamlit and only talk to the API through ``core.client.ApiClient``.
"""
