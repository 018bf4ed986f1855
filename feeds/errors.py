"""The project's one exception type: a message that names the problem and the fix.

Everything below the command line raises :class:`SqueezeLabError` for bad input; the CLI turns it
into one line on stderr and exit code 2. Nothing below the CLI prints.
"""

from __future__ import annotations


class SqueezeLabError(ValueError):
    """Bad input or an impossible request; ``str(err)`` is one line naming problem and fix."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))
