"""The deployment's settings: what the operator set for this service (and
tenant) over the defaults the service declared."""

from typing import Dict, Optional

from wit_world.imports import settings as _wit


def get(key: str, default: Optional[str] = None) -> Optional[str]:
    """The value of `key`, or `default` when nothing sets it."""
    value = _wit.get(key)
    return default if value is None else value


def all() -> Dict[str, str]:  # noqa: A001 (mirrors `get-all`)
    """Every key that has a value."""
    return dict(_wit.get_all())
