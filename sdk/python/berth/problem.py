"""Problems: failures a handler reports to the client.

Raise a `Problem` anywhere below a handler; the router turns it into the
WIT `problem` result, which the host renders as
`{"error": {"code", "message", "field", "request_id"}}`.
"""

from typing import Optional


class Problem(Exception):
    """An HTTP failure with a status (400-599), a stable code, a message and,
    for validation errors, the request field it concerns."""

    def __init__(self, status: int, code: str, message: str, field: Optional[str] = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field

    def __repr__(self) -> str:
        return f"Problem({self.status}, {self.code!r}, {self.message!r}, field={self.field!r})"

    @classmethod
    def bad_request(cls, message: str) -> "Problem":
        """400: the request is malformed."""
        return cls(400, "bad_request", message)

    @classmethod
    def not_found(cls, message: str) -> "Problem":
        """404: the resource does not exist."""
        return cls(404, "not_found", message)

    @classmethod
    def conflict(cls, message: str) -> "Problem":
        """409: the request conflicts with the current state."""
        return cls(409, "conflict", message)

    @classmethod
    def validation(cls, field: str, message: str) -> "Problem":
        """422: `field` fails validation."""
        return cls(422, "validation_error", message, field)

    @classmethod
    def internal(cls, message: str) -> "Problem":
        """500: the service failed."""
        return cls(500, "internal_error", message)

    @classmethod
    def unavailable(cls, message: str) -> "Problem":
        """503: a dependency is unavailable; the client may retry."""
        return cls(503, "unavailable", message)
