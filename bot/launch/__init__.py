"""Starting a job: the request checks, start images, and the use case itself."""
