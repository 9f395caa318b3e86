"""The pure core: no clock, no environment, no I/O. ``now`` is always a parameter."""
