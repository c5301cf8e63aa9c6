"""Domain errors raised by the scheduler package."""

from __future__ import annotations


class SchedulingError(ValueError):
    """A scheduling input is invalid or cannot be satisfied.

    ``code`` is a stable machine-readable identifier (e.g. ``"AGENDA_TOO_LONG"``),
    ``field`` names the offending input (e.g. ``"breaks"``, ``"chapters[3].timezone"``)
    when there is one, and ``message`` is a one-line human-readable explanation.
    """

    def __init__(self, code: str, message: str | None = None, *, field: str | None = None) -> None:
        text = code if message is None else message
        super().__init__(text)
        self.code = code
        self.field = field
        self.message = text

    def __repr__(self) -> str:
        return (
            f"SchedulingError(code={self.code!r}, field={self.field!r}, message={self.message!r})"
        )
