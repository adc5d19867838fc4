"""The background work: the job steps that span the job journal, the provider and delivery.

It sits above ``bot.jobs`` and ``bot.delivery`` (which know nothing of each other's callers):
the scheduler orchestrates them, so neither folder imports the other.
"""
