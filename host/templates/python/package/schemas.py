"""Request and response bodies. Their JSON Schemas are what the host checks
requests against and publishes in `/openapi.json`."""

from pydantic import BaseModel, Extra, Field, constr


class NoteInput(BaseModel):
    """The body of `POST /{{name}}`."""

    text: constr(strict=True, min_length=1, max_length=280) = Field(..., description="1 to 280 characters.")

    class Config:
        extra = Extra.forbid


class Note(BaseModel):
    """A note as stored and answered."""

    id: int
    text: str
