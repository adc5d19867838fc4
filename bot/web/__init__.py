"""The bot's HTTP side: the routes its listener serves (operations: ops.py)."""
