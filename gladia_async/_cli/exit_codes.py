"""The command line's exit codes, the help text that documents them, and the failure that is 1.

A command returns one of these codes; :mod:`.main` turns what a command raises into one.
"""

from __future__ import annotations

__all__ = [
    "EPILOG",
    "EXIT_BAD_KEY",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_PIPE",
    "EXIT_USAGE",
    "CommandFailed",
]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_PIPE = 0, 1, 2, 130, 141
#: A key the API refused (401): fix the configuration, not a failure to retry later.
EXIT_BAD_KEY = EXIT_USAGE

EPILOG = """\
exit codes:
  0    everything asked for was done
  1    some work failed (a file, a job, the API or the network); each failure is listed
  2    a usage error: bad flag or value, missing API key, malformed URL (nothing was sent),
       or an API key the API refused (401)
  130  interrupted with Ctrl-C (results already finished are kept)
  141  the reader of the output went away (e.g. `gladia-async jobs | head`)

environment:
  GLADIA_API_KEY   API key (or --api-key)
  GLADIA_API_URL   API base URL (or --api-url; default https://api.gladia.io)
"""


class CommandFailed(Exception):
    """A command failed for a reason already said in the shell's terms: exit code 1."""
