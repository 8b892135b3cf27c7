"""JSON bodies in and out, and their JSON Schemas for the manifest.

Bodies are pydantic (1.10) models. Their schemas are what the host validates
requests against (422 naming the field, before the service runs) and what it
publishes in OpenAPI; pydantic checks the same rules again in the service.

Patterns are the exception: JSON Schema's dialect is ECMA-262, and Python's
`re` gives `\s`, `\d` and `\w` other characters (`\s` takes U+001C–U+001F
and U+0085, `\d` every Unicode digit). A `constr(regex=…)` would have
pydantic refuse what the published schema allows, so a body model with one
is refused when its route is declared (`check_patterns`). Give a pattern
with `Field(pattern=r"…")`: it goes into the schema, the host checks it, and
pydantic does not check it again. `strip_space` trims what the schema's `\s`
means.
"""

import dataclasses
import json
import re
from typing import Any, Dict, Set, Type

import pydantic

from .http import parse_json
from .problem import Problem

# The host accepts references to a schema's own definitions only as
# `#/$defs/<name>` (and moves them into the OpenAPI components).
_REF_TEMPLATE = "#/$defs/{model}"


#: White space as JSON Schema patterns mean it (ECMA-262's `\s`: its
#: WhiteSpace and LineTerminator), and so as the host checks `pattern`.
WHITESPACE = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)


def strip_space(text: str) -> str:
    """`text` without JSON Schema white space at either end: a text that
    matches the pattern `\S` is never stripped to nothing, as it can be with
    `str.strip()`, which takes U+001C–U+001F and U+0085 too."""
    return text.strip(WHITESPACE)


# `\s`, `\d`, `\w`, `\b` and their negations (not an escaped backslash
# and a letter): where Python's `re` and ECMA-262 read a pattern otherwise.
_DIALECT_CLASSES = re.compile(r"(?<!\\)(?:\\\\)*\\[sSdDwWbB]")


def check_patterns(model: Type[pydantic.BaseModel]) -> None:
    """Refuses a body model (or a model nested in it) with a
    `constr(regex=…)` that Python's `re` reads otherwise than JSON Schema:
    pydantic would refuse bodies the host accepted against the published
    schema."""
    for nested in _nested_models(model, set()):
        for field in nested.__fields__.values():
            for kind in _field_types(field):
                regex = getattr(kind, "regex", None)
                pattern = getattr(regex, "pattern", regex)
                if isinstance(pattern, str) and _DIALECT_CLASSES.search(pattern):
                    raise TypeError(
                        f"{nested.__name__}.{field.name}: constr(regex={pattern!r}) would be "
                        "checked again by pydantic with Python's re, whose \\s, \\d, \\w and \\b "
                        "are not JSON Schema's (ECMA-262), which the host checks: give the "
                        "pattern as Field(pattern=...) instead")


def _field_types(field: Any):
    yield field.type_
    yield field.outer_type_
    for sub in field.sub_fields or ():
        yield from _field_types(sub)


def is_model(annotation: Any) -> bool:
    """Whether `annotation` is a pydantic model class."""
    return isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel)


def json_schema(model: Type[pydantic.BaseModel]) -> Dict[str, Any]:
    """The JSON Schema of `model`, its nested models under `$defs`, and every
    field that accepts `None` accepting JSON `null` (pydantic 1 leaves `null`
    out of `Optional[...]` fields, which would make the host refuse it)."""
    schema = model.schema(ref_template=_REF_TEMPLATE)
    definitions = schema.pop("definitions", None)
    _allow_null(schema, model)
    if definitions:
        for nested in _nested_models(model, set()):
            if nested is not model and nested.__name__ in definitions:
                _allow_null(definitions[nested.__name__], nested)
        schema["$defs"] = definitions
    return schema


def json_schema_text(model: Type[pydantic.BaseModel]) -> str:
    return json.dumps(json_schema(model), separators=(",", ":"), sort_keys=True)


def _allow_null(schema: Dict[str, Any], model: Type[pydantic.BaseModel]) -> None:
    properties = schema.get("properties", {})
    for name, field in model.__fields__.items():
        key = field.alias
        if not field.allow_none or key not in properties:
            continue
        prop = properties[key]
        kind = prop.get("type")
        if isinstance(kind, str):
            prop["type"] = [kind, "null"]
        elif isinstance(kind, list):
            if "null" not in kind:
                kind.append("null")
        else:
            title = prop.pop("title", None)
            description = prop.pop("description", None)
            properties[key] = {"anyOf": [prop, {"type": "null"}]}
            if title is not None:
                properties[key]["title"] = title
            if description is not None:
                properties[key]["description"] = description


def _nested_models(model: Type[pydantic.BaseModel], seen: Set[type]):
    if model in seen:
        return
    seen.add(model)
    yield model
    for field in model.__fields__.values():
        for sub in (field.type_, field.outer_type_):
            if is_model(sub):
                yield from _nested_models(sub, seen)


def parse_body(model: Type[pydantic.BaseModel], body: bytes) -> pydantic.BaseModel:
    """Parses a JSON body into `model`. Malformed JSON is a 422 naming
    `body`; a body that does not fit the model is a 422 naming the field.
    Numbers are read as the published JSON Schema reads them: `2978.0` fits
    an integer field."""
    data = parse_json(body, integral_floats_as_ints=True)
    try:
        return model.parse_obj(data)
    except pydantic.ValidationError as error:
        first = error.errors()[0]
        path = [str(part) for part in first["loc"] if part != "__root__"]
        field = ".".join(path) or "body"
        raise Problem.validation(field, f"{field}: {first['msg']}") from None


_SCALARS = frozenset({str, int, float, bool})


def to_jsonable(value: Any) -> Any:
    """Models, dataclasses, lists and dicts of them as plain JSON values."""
    if value is None or type(value) in _SCALARS:  # most values: the fast way out
        return value
    if isinstance(value, pydantic.BaseModel):
        return to_jsonable(value.dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value
