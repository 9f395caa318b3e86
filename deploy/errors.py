"""The one error an organiser sees from deploy: a sentence saying what to do."""

from __future__ import annotations


class DeployError(Exception):
    """A deployment cannot go on; the message tells the organiser why and what to do."""
