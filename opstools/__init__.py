"""The organiser tools behind ``ops.py``: one module per subcommand."""
