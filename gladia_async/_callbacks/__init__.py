"""Callbacks: the receiver and its web adapters."""
