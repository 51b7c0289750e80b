"""The transport: the pool, the one retry loop, error mapping, secrets, uploads."""
