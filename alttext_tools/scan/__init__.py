"""Scanning: find every image in HTML and Markdown sources, with exact positions and context."""
