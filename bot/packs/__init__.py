"""Credit packs sold as Discord consumable SKUs: config, the entitlements store, the service."""
