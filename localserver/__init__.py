"""The embedded server behind ``python build.py serve``: the site and the vote API on one port."""
