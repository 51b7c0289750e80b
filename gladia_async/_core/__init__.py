"""Errors, configuration values, argument checks and closing: what every layer uses."""
