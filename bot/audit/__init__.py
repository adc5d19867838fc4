"""The per-guild audit trail: an outbox written with each change, posted to a channel."""
