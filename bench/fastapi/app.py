"""The seed's stack: the same `items` and `hello` in FastAPI + SQLAlchemy,
for berth's benchmark. DATABASE_URL: sqlite:///path or
postgresql+psycopg://user@host/db."""

import os
from datetime import datetime, timezone
from typing import Optional

from fastapi import Depends, FastAPI, HTTPException, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import CheckConstraint, Float, Integer, String, create_engine, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

DATABASE_URL = os.environ.get("DATABASE_URL", "sqlite:///fastapi-bench.db")
is_sqlite = DATABASE_URL.startswith("sqlite")
engine = create_engine(
    DATABASE_URL,
    connect_args={"check_same_thread": False} if is_sqlite else {},
    pool_size=4,
)
if is_sqlite:
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _tune(connection, _):
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()

SessionLocal = sessionmaker(bind=engine, expire_on_commit=False)


class Base(DeclarativeBase):
    pass


class ItemRow(Base):
    __tablename__ = "items"
    __table_args__ = (CheckConstraint("price >= 0"), CheckConstraint("quantity >= 0"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[Optional[str]] = mapped_column(String(1000), nullable=True)
    price: Mapped[float] = mapped_column(Float)
    quantity: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[str] = mapped_column(String(40))
    updated_at: Mapped[str] = mapped_column(String(40))


Base.metadata.create_all(engine)


class ItemInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    description: Optional[str] = Field(default=None, max_length=1000)
    price: float = Field(ge=0)
    quantity: int = Field(default=0, ge=0)


class Item(ItemInput):
    model_config = ConfigDict(from_attributes=True)
    id: int
    created_at: str
    updated_at: str


class ItemPage(BaseModel):
    items: list[Item]
    total: int
    limit: int
    offset: int


def get_db():
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()


app = FastAPI(title="items (FastAPI)")


@app.get("/hello/{name}")
def hello(name: str):
    return {"message": f"Hello, {name}!", "version": "1.0.0"}


@app.post("/items", status_code=201, response_model=Item)
def create_item(body: ItemInput, response: Response, db: Session = Depends(get_db)):
    now = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    row = ItemRow(**body.model_dump(), created_at=now, updated_at=now)
    db.add(row)
    db.commit()
    db.refresh(row)
    response.headers["location"] = f"/items/{row.id}"
    return row


@app.get("/items/{item_id}", response_model=Item)
def read_item(item_id: int, db: Session = Depends(get_db)):
    row = db.get(ItemRow, item_id)
    if row is None:
        raise HTTPException(status_code=404, detail=f"item {item_id} does not exist")
    return row


@app.get("/items", response_model=ItemPage)
def list_items(limit: int = Query(20, ge=1, le=100), offset: int = Query(0, ge=0), db: Session = Depends(get_db)):
    rows = db.scalars(select(ItemRow).order_by(ItemRow.id).limit(limit).offset(offset)).all()
    total = db.scalar(select(func.count()).select_from(ItemRow))
    return ItemPage(items=rows, total=total, limit=limit, offset=offset)
