"""Vote stores: backends of ``ballotbox.core.store.VoteStore``, one contract suite."""
