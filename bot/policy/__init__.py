"""Each guild's spending rules (pure), their store, and requests waiting for Confirm or Approve."""
