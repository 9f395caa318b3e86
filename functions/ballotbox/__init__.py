"""The vote function: a pure core, a store interface and thin adapters.

This package is the Lambda deployment's root (with ``vote_handler.py`` beside it)
and must never import the site builder.
"""
