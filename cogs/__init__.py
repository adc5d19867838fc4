"""Thin Discord adapters: parse interactions, call bot/ services, render replies."""
