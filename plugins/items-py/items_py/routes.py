"""The routes `items-py` declares, relative to its mount point, and their
handlers: parse, call the business logic, read or write the model, answer."""

from berth import Path, Problem, Query, Request, Response, Router, db

from . import models, service
from .schemas import Item, ItemInput, ItemPage, ItemPatch

router = Router()

# Ids and offsets are what the database's 64-bit integers hold.
I64_MAX = 2**63 - 1
ItemId = Path(gt=0, le=I64_MAX)


def not_found(item_id: int) -> Problem:
    return Problem.not_found(f"item {item_id} does not exist")


@router.post("/", summary="Create an item", status=201)
def create(body: ItemInput, request: Request) -> Item:
    item = models.insert(db, service.validate(body), service.now())
    location = f"{request.path.rstrip('/')}/{item.id}"
    return Response.json(item, 201).with_header("location", location)


@router.get("/", summary="List items, oldest first")
def list_items(
    limit: int = Query(service.DEFAULT_LIMIT, ge=1, le=service.MAX_LIMIT),
    offset: int = Query(0, ge=0, le=I64_MAX),
) -> ItemPage:
    items, total = models.list_page(db, limit, offset)
    return ItemPage(items=items, total=total, limit=limit, offset=offset)


@router.get("/{id}", summary="Read an item")
def read(id: int = ItemId) -> Item:  # noqa: A002 (the template names it `id`)
    item = models.find(db, id)
    if item is None:
        raise not_found(id)
    return item


@router.put("/{id}", summary="Replace an item")
def replace(body: ItemInput, id: int = ItemId) -> Item:  # noqa: A002
    item = models.update(db, id, service.validate(body), service.now())
    if item is None:
        raise not_found(id)
    return item


@router.patch("/{id}", summary="Change some fields of an item")
def patch(body: ItemPatch, id: int = ItemId) -> Item:  # noqa: A002
    # Read and write in one transaction so that concurrent patches of the
    # same item do not lose each other's changes.
    with db.transaction() as tx:
        current = models.find(tx, id)
        if current is None:
            raise not_found(id)
        merged = service.apply_patch(ItemInput(**current.dict(exclude={"id", "created_at", "updated_at"})), body)
        item = models.update(tx, id, merged, service.now())
        if item is None:
            raise not_found(id)
    return item


@router.delete("/{id}", summary="Delete an item", status=204)
def delete(id: int = ItemId) -> None:  # noqa: A002
    if not models.delete(db, id):
        raise not_found(id)
