"""Integrations with other tools: the MkDocs plugin."""
