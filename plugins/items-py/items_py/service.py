"""Business logic: validation, patching and the clock. Pure functions,
unit-tested natively (`tests/test_service.py`)."""

import math
from datetime import datetime, timezone

from berth import Problem
from berth.schema import strip_space

from .schemas import DESCRIPTION_MAX_CHARS, NAME_MAX_CHARS, ItemInput, ItemPatch

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


def validate(item: ItemInput) -> ItemInput:
    """Checks every rule of a full item; trims the name of what the schema
    calls white space (so a name the host accepted never ends up empty)."""
    name = strip_space(item.name)
    if not 1 <= len(name) <= NAME_MAX_CHARS:
        raise Problem.validation("name", f"name must be 1 to {NAME_MAX_CHARS} characters")
    if item.description is not None and len(item.description) > DESCRIPTION_MAX_CHARS:
        raise Problem.validation(
            "description", f"description must be at most {DESCRIPTION_MAX_CHARS} characters"
        )
    if not math.isfinite(item.price) or item.price < 0:
        raise Problem.validation("price", "price must be a number, zero or more")
    return item.copy(update={"name": name})


def apply_patch(current: ItemInput, patch: ItemPatch) -> ItemInput:
    """Applies a patch to the current state of an item and validates the
    result. A field left out (or `null`, but for `description`) is kept."""
    given = patch.__fields_set__
    merged = current.copy(
        update={
            "name": patch.name if patch.name is not None else current.name,
            "description": patch.description if "description" in given else current.description,
            "price": patch.price if patch.price is not None else current.price,
            "quantity": patch.quantity if patch.quantity is not None else current.quantity,
        }
    )
    return validate(merged)


def now() -> str:
    """The current time as RFC 3339 with milliseconds, UTC (`…T10:00:00.000Z`)."""
    moment = datetime.now(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
