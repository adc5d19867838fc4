"""The bot's HTTP listener (server.py) and what it serves: Apiframe webhooks (webhooks.py),
/healthz and /metrics (ops.py)."""
