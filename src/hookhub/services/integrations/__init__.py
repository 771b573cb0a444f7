"""Integrations (webhooks): who may see and change them, validation, listing and history."""
