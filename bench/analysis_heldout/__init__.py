"""Held-out benchmark for ``ops.py analyze``: written apart from the detector and its own bench.

See README.md in this folder for what it generates, how it scores and the figures it gave.
"""
