"""`extensions = ["alttext_tools.sphinx"]`: the short name of the Sphinx extension in integrations/sphinx.py."""

from alttext_tools.integrations.sphinx import setup

__all__ = ["setup"]
