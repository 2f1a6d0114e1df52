"""Rewriting sources: decisions from a file, byte-exact alt edits, write-back and diffs, the `fix` run."""
