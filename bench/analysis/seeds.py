"""Which campaign seeds tune the detector and which evaluate it. Never mix them.

Every seed draws a whole campaign (organic world, every hard negative, one episode of
every attack family with its own parameters; see ``generate.py``). Thresholds in
``opstools/analyze`` were set looking only at ``TUNING`` campaigns, and only at the
families outside ``HELD_OUT``. ``EVALUATION`` seeds are used for the figures in
bench/README.md and nothing else; if a figure there prompts a change to the detector,
the next evaluation must use a new block of seeds (``EVALUATION_NEXT``) and say so.
"""

from __future__ import annotations

TUNING: tuple[int, ...] = tuple(range(1001, 1009))
EVALUATION: tuple[int, ...] = tuple(range(5001, 5021))
#: Reserved for the next evaluation after any change made in response to EVALUATION.
EVALUATION_NEXT: tuple[int, ...] = tuple(range(6001, 6021))
#: Families never looked at while tuning: their figures are reported apart.
HELD_OUT: tuple[str, ...] = ("click_workers", "decoy_rotation")

if set(TUNING) & set(EVALUATION) or set(EVALUATION) & set(EVALUATION_NEXT):
    raise ValueError("tuning and evaluation seeds must be disjoint")
