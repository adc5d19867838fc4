"""The Sora Discord bot: application and services (no Discord UI code here)."""
