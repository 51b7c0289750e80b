"""The command line: ``gladia-async`` and its subcommands."""
