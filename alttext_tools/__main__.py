"""`python -m alttext_tools`: the `alttext` command."""

from alttext_tools.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
