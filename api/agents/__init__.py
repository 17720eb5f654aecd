"""The agent side: runners, the pipeline, the monitor loop, the message relay and inbox."""
