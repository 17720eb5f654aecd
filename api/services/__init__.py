"""Domain operations composed of store calls (used by routes and background services)."""
