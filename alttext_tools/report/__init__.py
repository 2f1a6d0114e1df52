"""Reporting: the output formats of a run and the exit code it ends with."""
