"""Video models as data, generated from the vendored Apiframe contract, with one validator."""
