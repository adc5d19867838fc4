"""Each guild's spending rules (pure), their store, and requests held for Confirm or Approve
(held: the values; approvals: their store; holds: what the cogs may do with them)."""
