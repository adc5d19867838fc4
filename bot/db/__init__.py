"""SQLite: connection set-up, the numbered migrations and explicit transactions."""
