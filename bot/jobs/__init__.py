"""The job journal and its state machine, the one scheduler, job events, open acknowledgements,
and what the audit trail says about a job."""
