"""The job journal and its state machine, job events, open acknowledgements, and what the
audit trail says about a job."""
