"""Batches: the run, the admission window, the journal."""
