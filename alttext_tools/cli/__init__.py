"""The `alttext` command line: the entry point, the shared options, and the `cache` and `models` groups."""
