"""Dashboard pages (run by ``st.navigation`` in ``dashboard.py``) and their UI helpers."""
