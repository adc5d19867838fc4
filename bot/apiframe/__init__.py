"""The Apiframe client: typed requests and responses, errors, retries, downloads, webhooks."""
