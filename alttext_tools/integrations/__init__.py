"""Integrations with other tools: the MkDocs plugin, the Sphinx extension and the Wagtail app."""
