"""Checking: the rules that judge each scanned image, and running them over many files."""
