"""Live sessions: the session, reconnect and replay."""
