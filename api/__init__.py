"""The Omakase orchestrator service: DynamoDB store, REST + SSE API, monitor loop, pipeline."""
