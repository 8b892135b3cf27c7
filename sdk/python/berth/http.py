"""The request a handler receives and the response it may return."""

import json
from typing import Any, Dict, List, Optional, Tuple

from .problem import Problem

Fields = List[Tuple[str, str]]


def _method_name(method: Any) -> str:
    """The upper-case name of a WIT `method` variant (`Method_Get` → `GET`)."""
    if hasattr(method, "value"):  # Method_Other carries its own name
        return str(method.value)
    return type(method).__name__.split("_", 1)[-1].upper()


class Request:
    """An HTTP request routed to the service: method, path, the matched route
    template, path and query parameters, lower-case headers and the body."""

    def __init__(self, wit: Any):
        self.method: str = _method_name(wit.method)
        self.path: str = wit.path
        self.route: str = wit.route
        self.params: Dict[str, str] = dict(wit.params)
        self.query_pairs: Fields = list(wit.query)
        self.headers: Dict[str, str] = {k.lower(): v for k, v in reversed(wit.headers)}
        self.body: bytes = bytes(wit.body)
        self.request_id: str = wit.request_id
        self.tenant: str = wit.tenant

    def query(self, name: str) -> Optional[str]:
        """The first query parameter called `name`."""
        return next((v for k, v in self.query_pairs if k == name), None)

    def header(self, name: str) -> Optional[str]:
        """The header `name` (case-insensitive)."""
        return self.headers.get(name.lower())

    def json(self) -> Any:
        """The body parsed as JSON; malformed JSON is a 422 naming `body`."""
        return parse_json(self.body)


class _DuplicateField(ValueError):
    pass


def _unique_fields(pairs: List[Tuple[str, Any]]) -> Dict[str, Any]:
    """An object whose names are unique: a name given twice is ambiguous
    (the Rust and JavaScript SDKs refuse it too)."""
    fields: Dict[str, Any] = {}
    for name, value in pairs:
        if name in fields:
            raise _DuplicateField(f"duplicate field `{name}`")
        fields[name] = value
    return fields


_EXACT = 2**53


def _integral_as_int(text: str) -> Any:
    """A JSON number with a fraction part, as JSON Schema reads it: `2978.0`
    is the integer 2978 (within ±2^53, where floats are exact)."""
    value = float(text)
    return int(value) if value.is_integer() and abs(value) <= _EXACT else value


def parse_json(body: bytes, integral_floats_as_ints: bool = False) -> Any:
    """Parses a JSON body; a field given twice or malformed JSON is a 422
    naming `body`. With `integral_floats_as_ints`, `3.0` is read as `3`."""
    parse_float = _integral_as_int if integral_floats_as_ints else float
    try:
        return json.loads(body.decode("utf-8"), object_pairs_hook=_unique_fields, parse_float=parse_float)
    except _DuplicateField as error:
        raise Problem.validation("body", f"body: {error}") from None
    except (UnicodeDecodeError, ValueError) as error:
        raise Problem.validation("body", f"body is not valid JSON: {error}") from None


def dumps(value: Any) -> bytes:
    """Compact JSON, UTF-8; NaN and infinities are refused (not JSON)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


class Response:
    """An HTTP response: a status, headers and a body."""

    def __init__(self, status: int = 200, body: bytes = b"", headers: Optional[Fields] = None):
        self.status = status
        self.body = body
        self.headers: Fields = list(headers or [])

    @classmethod
    def json(cls, value: Any, status: int = 200) -> "Response":
        """A JSON response; pydantic models and dataclasses are encoded too."""
        return cls(status, dumps(_schema.to_jsonable(value)), [("content-type", "application/json")])

    @classmethod
    def empty(cls, status: int = 204) -> "Response":
        """A response without a body, e.g. 204."""
        return cls(status)

    def with_header(self, name: str, value: str) -> "Response":
        """Adds a header (its name lower-cased) and returns the response."""
        self.headers.append((name.lower(), value))
        return self


# Last: `schema` imports `parse_json` from this module.
from . import schema as _schema  # noqa: E402
