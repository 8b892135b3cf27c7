"""The routes, relative to the service's mount point (`/{{name}}`), and their
typed handlers."""

from berth import Path, Problem, Request, Response, Router, db

from . import models, service
from .schemas import Note, NoteInput

router = Router()


@router.post("/", summary="Write a note", status=201)
def create(body: NoteInput, request: Request) -> Note:
    note = models.insert(db, service.tidy(body.text))
    return Response.json(note, 201).with_header("location", f"{request.path.rstrip('/')}/{note.id}")


@router.get("/{id}", summary="Read a note")
def read(id: int = Path(gt=0, le=2**63 - 1)) -> Note:  # noqa: A002 (the template names it `id`)
    note = models.find(db, id)
    if note is None:
        raise Problem.not_found(f"note {id} does not exist")
    return note
