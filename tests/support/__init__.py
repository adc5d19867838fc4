"""What many test modules build the same way: the test clock, the stores, a job request."""
