"""Request and response bodies. Their JSON Schemas are what the host
validates requests against (422 naming the field) and publishes in OpenAPI;
`service.validate` re-checks the same rules in Python."""

from typing import List, Optional

from pydantic import BaseModel, Extra, Field, confloat, conint, constr

NAME_MAX_CHARS = 100
DESCRIPTION_MAX_CHARS = 1000
# `quantity` is a u32 in the Rust `items`; the same bounds here.
QUANTITY_MAX = 2**32 - 1

# Not all white space: the service trims names (the schema says so too).
# The pattern is the host's to check, in JSON Schema's dialect; pydantic
# would read `\S` with Python's `re`, which calls U+001E white space.
NAME_PATTERN = r"\S"
Name = constr(strict=True, min_length=1, max_length=NAME_MAX_CHARS)
Description = constr(strict=True, max_length=DESCRIPTION_MAX_CHARS)
Price = confloat(ge=0)
Quantity = conint(strict=True, ge=0, le=QUANTITY_MAX)


class ItemInput(BaseModel):
    """The body of `POST /items-py` and `PUT /items-py/{id}`: every field of
    an item."""

    name: Name = Field(..., description="1 to 100 characters.", pattern=NAME_PATTERN)
    description: Optional[Description] = Field(None, description="Up to 1000 characters.")
    price: Price = Field(..., description="A price, zero or more.")
    quantity: Quantity = Field(0, description="How many are in stock.")

    class Config:
        extra = Extra.forbid


class ItemPatch(BaseModel):
    """The body of `PATCH /items-py/{id}`: only the fields to change.
    `"description": null` clears the description."""

    name: Optional[Name] = Field(None, description="1 to 100 characters.", pattern=NAME_PATTERN)
    description: Optional[Description] = Field(
        None, description="Up to 1000 characters; `null` clears it."
    )
    price: Optional[Price] = Field(None, description="A price, zero or more.")
    quantity: Optional[Quantity] = Field(None, description="How many are in stock.")

    class Config:
        extra = Extra.forbid


class Item(BaseModel):
    """An item as stored and answered."""

    id: int
    name: str
    description: Optional[str]
    price: float
    quantity: int
    created_at: str = Field(..., description="RFC 3339, UTC.")
    updated_at: str = Field(..., description="RFC 3339, UTC.")


class ItemPage(BaseModel):
    """One page of `GET /items-py`."""

    items: List[Item]
    total: int = Field(..., description="How many items exist in all.")
    limit: int
    offset: int
