"""The job journal and its state machine, the one scheduler, job events, open acknowledgements."""
