"""Which campaign seeds tune the detector and which evaluate it. Never mix them.

Every seed draws a whole campaign (organic world, every hard negative, one episode of
every attack family with its own parameters; see ``generate.py``). Thresholds in
``opstools/analyze`` were set looking only at ``TUNING`` campaigns, and only at the
families outside ``HELD_OUT``. ``EVALUATION`` seeds are used for the figures in
bench/README.md and nothing else; if a figure there prompts a change to the detector,
the next evaluation must use a new block of seeds (``EVALUATION_NEXT``) and say so.
"""

from __future__ import annotations

#: 1001-1008 from the start; 1009-1024 added for round 3 of issue 11 (the device kind,
#: recurrence through any network, bursts made of one anomaly).
TUNING: tuple[int, ...] = tuple(range(1001, 1025))
EVALUATION: tuple[int, ...] = tuple(range(5001, 5021))
#: Reserved for the next evaluation after any change made in response to EVALUATION.
#: Used for the figures of issue 11 round 2 (bench/README.md); a further change made in
#: response to them needs yet another fresh block.
EVALUATION_NEXT: tuple[int, ...] = tuple(range(6001, 6021))
#: Seeds 7001-7005 scored the one-off-episode rule after round 2 (bench/README.md).
#: Round 3 of issue 11 was tuned on TUNING only and scored on this block, which showed a
#: workplace removed beside a drip (seed 8017); the fix was scored on EVALUATION_ROUND3B.
EVALUATION_ROUND3: tuple[int, ...] = tuple(range(8001, 8021))
EVALUATION_ROUND3B: tuple[int, ...] = tuple(range(9001, 9021))
#: Round 4 of issue 11 (batches at several scales and taken by who, recurring device
#: strings and machine pace, pools that reuse addresses) was tuned on TUNING only and
#: scored once on this block.
EVALUATION_ROUND4: tuple[int, ...] = tuple(range(10001, 10021))
#: It showed a workplace flagged and a reminder partly removed through chance periodic
#: runs found over several minutes; the fix (ten batches at those scales) was scored on:
EVALUATION_ROUND4B: tuple[int, ...] = tuple(range(11001, 11021))
#: It showed a share wave partly removed where it passed through a run's batches; the fix
#: (no batch speaks for votes inside a crowd's burst) was scored on:
EVALUATION_ROUND4C: tuple[int, ...] = tuple(range(12001, 12021))
#: A review of the change found the scale of the batch search overwritten by a loop
#: variable after the first candidate; the corrected detector was scored on:
EVALUATION_ROUND4D: tuple[int, ...] = tuple(range(13001, 13021))
#: Families never looked at while tuning: their figures are reported apart.
HELD_OUT: tuple[str, ...] = ("click_workers", "decoy_rotation")

_blocks = (
    set(TUNING),
    set(EVALUATION),
    set(EVALUATION_NEXT),
    set(EVALUATION_ROUND3),
    set(EVALUATION_ROUND3B),
    set(EVALUATION_ROUND4),
    set(EVALUATION_ROUND4B),
    set(EVALUATION_ROUND4C),
    set(EVALUATION_ROUND4D),
)
if sum(map(len, _blocks)) != len(set().union(*_blocks)):
    raise ValueError("tuning and evaluation seeds must be disjoint")
