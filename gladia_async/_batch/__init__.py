"""Batches (``transcribe_many``) and their journal.

``run`` (the run and its task group) uses ``outcomes`` (what it reports), ``pacing`` (when it
polls), ``admission`` (how many jobs the account takes) and the journal: ``journal`` (the
async object) on ``store`` (its SQLite file, the only module speaking SQL), ``lock`` (one
writer at a time), ``identity`` (who a source is, its token), ``entries`` (what a row holds)
and ``resume`` (what a rerun does with a row).
"""
