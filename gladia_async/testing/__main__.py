"""``python -m gladia_async.testing``: run the Gladia emulator in the foreground.

Same options and defaults as ``gladia-async emulator`` (see :mod:`._command`).
"""

from __future__ import annotations

import sys

from ._command import main

if __name__ == "__main__":
    sys.exit(main())
