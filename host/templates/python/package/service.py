"""Business logic: pure functions, unit-tested natively."""

from berth import Problem


def tidy(text: str) -> str:
    """A note's text with its surrounding whitespace removed; blank is refused."""
    text = text.strip()
    if not text:
        raise Problem.validation("text", "text must not be blank")
    return text
