"""The webhook engine: script compilation now; the incoming sandbox and delivery worker later.

Nothing here is imported on the API's hot path unless a script is actually being handled."""
