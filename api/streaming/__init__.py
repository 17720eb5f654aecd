"""SSE streaming of chat threads: the wire format and the per-process stream hub."""
