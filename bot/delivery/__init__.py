"""What members see about a job, and the only code that posts job output to Discord."""
