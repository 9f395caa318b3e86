"""The static site builder: load and validate content, plan pages, render, write.

``build.py`` is its command line; the vote function never imports this package.
"""
