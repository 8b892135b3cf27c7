"""Business logic: composing a greeting."""

from typing import Dict, Optional

from berth import Problem

VERSION = "1.0.0"

#: The greeting used when the deployment sets none.
DEFAULT_GREETING = "Hello"

MAX_NAME_CHARS = 100


def greet(greeting: Optional[str], name: str) -> Dict[str, str]:
    """Greets `name` with `greeting` (or the default)."""
    name = name.strip()
    if not name:
        raise Problem.validation("name", "name must not be empty")
    if len(name) > MAX_NAME_CHARS:
        raise Problem.validation("name", f"name must be at most {MAX_NAME_CHARS} characters")
    greeting = DEFAULT_GREETING if greeting is None else greeting
    return {"message": f"{greeting}, {name}!", "version": VERSION}
