"""Scanning: find every image in HTML, Markdown and reST sources, with exact positions and context."""
