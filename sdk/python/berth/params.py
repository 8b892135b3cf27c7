"""Path and query parameters: declared by a handler's signature, converted
by annotation (`int`, `float`, `bool`, `str`, `Optional[...]`), with
FastAPI-style bounds: `limit: int = Query(20, ge=1, le=100)`,
`id: int = Path(gt=0)`. A value that does not convert or is out of bounds
is a 422 naming the parameter."""

import re
import typing
from typing import Any, Optional

from .problem import Problem

_INTEGER = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}

REQUIRED: Any = ...


class Param:
    """Bounds and a default for one parameter."""

    def __init__(self, default: Any = REQUIRED, *, ge=None, gt=None, le=None, lt=None,
                 alias: Optional[str] = None, description: str = ""):
        self.default = default
        self.ge, self.gt, self.le, self.lt = ge, gt, le, lt
        self.alias = alias
        self.description = description

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


def Query(default: Any = REQUIRED, **bounds: Any) -> Any:  # noqa: N802 (FastAPI's spelling)
    """A query parameter with a default and bounds."""
    return Param(default, **bounds)


def Path(**bounds: Any) -> Any:  # noqa: N802
    """A path parameter with bounds."""
    return Param(REQUIRED, **bounds)


def _unwrap_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _kind_message(name: str, kind: Any, spec: Param) -> str:
    """What a valid value looks like, e.g. `limit must be an integer from 1
    to 100`."""
    noun = {int: "an integer", float: "a number", bool: "true or false"}.get(kind, "text")
    if kind in (int, float):
        if spec.ge is not None and spec.le is not None:
            return f"{name} must be {noun} from {spec.ge} to {spec.le}"
        if spec.gt == 0 and spec.le is None and spec.lt is None and kind is int:
            return f"{name} must be a positive integer"
        if spec.ge == 0 and spec.le is None and spec.lt is None:
            return f"{name} must be {noun}, zero or more"
        bounds = [f"{word} {value}" for word, value in (
            ("at least", spec.ge), ("greater than", spec.gt),
            ("at most", spec.le), ("less than", spec.lt)) if value is not None]
        if bounds:
            return f"{name} must be {noun} " + " and ".join(bounds)
    return f"{name} must be {noun}"


def convert(name: str, raw: str, annotation: Any, spec: Param) -> Any:
    """Converts the text of a parameter to its annotated type and checks its
    bounds; a 422 naming it otherwise."""
    kind = _unwrap_optional(annotation)
    if kind is typing.Any or kind is None or kind is str:
        return raw
    problem = Problem.validation(name, _kind_message(name, kind, spec))
    if kind is int:
        if not _INTEGER.fullmatch(raw):
            raise problem
        value: Any = int(raw)
        if not -(2**63) <= value < 2**63:  # what the database's integers hold
            raise problem
    elif kind is float:
        if not _NUMBER.fullmatch(raw):
            raise problem
        value = float(raw)
    elif kind is bool:
        lowered = raw.lower()
        if lowered not in _TRUE | _FALSE:
            raise problem
        return lowered in _TRUE
    else:
        raise TypeError(f"parameter {name}: cannot convert to {annotation!r}")
    if ((spec.ge is not None and value < spec.ge) or (spec.gt is not None and value <= spec.gt)
            or (spec.le is not None and value > spec.le) or (spec.lt is not None and value >= spec.lt)):
        raise problem
    return value


_JSON_TYPES = {int: "integer", float: "number", bool: "boolean", str: "string"}


def json_schema(annotation: Any, spec: Param) -> dict:
    """The JSON Schema of one parameter, as the host checks and publishes it:
    its type, bounds and default."""
    kind = _unwrap_optional(annotation)
    schema: dict = {"type": _JSON_TYPES.get(kind, "string")}
    for key, value in (("minimum", spec.ge), ("exclusiveMinimum", spec.gt),
                       ("maximum", spec.le), ("exclusiveMaximum", spec.lt)):
        if value is not None:
            schema[key] = value
    if kind is int:
        # What `convert` accepts: the database's 64-bit integers.
        if spec.ge is None and spec.gt is None:
            schema["minimum"] = -(2**63)
        if spec.le is None and spec.lt is None:
            schema["maximum"] = 2**63 - 1
    if not spec.required and spec.default is not None:
        schema["default"] = spec.default
    return schema
