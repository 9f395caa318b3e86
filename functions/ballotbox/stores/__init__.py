"""Vote stores: one interface (``base.VoteStore``), one contract suite, several backends."""
