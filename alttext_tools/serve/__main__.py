"""`python -m alttext_tools.serve`: the same as `alttext serve`."""

from alttext_tools.serve.command import serve

if __name__ == "__main__":
    serve(prog_name="alttext serve")
