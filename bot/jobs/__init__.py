"""The job journal and its state machine, job events, open acknowledgements."""
