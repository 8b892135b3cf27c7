"""The service's own database: typed parameters, rows as dicts (or models),
transactions as context managers.

    rows = db.query("SELECT id, name FROM items WHERE id = $1", [item_id])
    with db.transaction() as tx:
        tx.execute("UPDATE items SET name = $1 WHERE id = $2", [name, item_id])

Placeholders are `$1`, `$2`, … on every dialect. Parameters are Python
values: `None`, `bool`, `int`, `float`, `str`, `bytes`. A failing statement
raises `DatabaseError`, a `Problem` a client may see (409 for a violated
constraint, 503 when the database is unavailable, 500 otherwise), with the
database's own message logged rather than sent.
"""

from typing import Any, Dict, List, Optional, Sequence, Type, TypeVar

from componentize_py_types import Err
from wit_world.imports import database
from wit_world.imports.types import Dialect

from . import log
from .problem import Problem

T = TypeVar("T")
Row = Dict[str, Any]

_KINDS = {
    database.Error_ConstraintViolation: "constraint-violation",
    database.Error_NotPermitted: "not-permitted",
    database.Error_Unavailable: "unavailable",
    database.Error_LimitExceeded: "limit-exceeded",
    database.Error_InvalidQuery: "invalid-query",
    database.Error_Other: "other",
}


class DatabaseError(Problem):
    """A statement failed; `kind` is the WIT error case (e.g.
    `constraint-violation`) and `detail` the database's message."""

    def __init__(self, kind: str, detail: str):
        if kind == "constraint-violation":
            status, code, message = 409, "conflict", "the request conflicts with existing data"
        elif kind == "unavailable":
            status, code, message = 503, "unavailable", "the database is unavailable, retry later"
        elif kind == "limit-exceeded":
            status, code, message = 500, "limit_exceeded", "a database limit was exceeded"
        else:
            status, code, message = 500, "internal_error", "the service failed to query its database"
        super().__init__(status, code, message)
        self.kind = kind
        self.detail = detail


def _raise(error: Err) -> None:
    wit = error.value
    kind = _KINDS.get(type(wit), "other")
    detail = getattr(wit, "value", str(wit))
    log.warn("database error", kind=kind, detail=detail)
    raise DatabaseError(kind, detail) from None


def to_value(value: Any) -> database.Value:
    """A Python value as a WIT `value`."""
    if value is None:
        return database.Value_Null()
    if isinstance(value, bool):  # before int: bool is an int
        return database.Value_Boolean(value)
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise OverflowError(f"{value} does not fit a 64-bit integer")
        return database.Value_Integer(value)
    if isinstance(value, float):
        return database.Value_Real(value)
    if isinstance(value, str):
        return database.Value_Text(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return database.Value_Blob(bytes(value))
    raise TypeError(f"cannot pass a {type(value).__name__} to SQL")


def from_value(value: database.Value) -> Any:
    """A WIT `value` as a Python value."""
    if isinstance(value, database.Value_Null):
        return None
    if isinstance(value, database.Value_Blob):
        return bytes(value.value)
    return value.value


def _rows(result: database.Rows) -> List[Row]:
    return [dict(zip(result.columns, map(from_value, row))) for row in result.rows]


def _into(rows: List[Row], into: Optional[Type[T]]) -> List[Any]:
    return rows if into is None else [into(**row) for row in rows]


class _Executor:
    """Runs statements directly on the namespace or in a transaction."""

    def _query(self, sql: str, values: List[database.Value]) -> database.Rows:
        return database.query(sql, values)

    def _execute(self, sql: str, values: List[database.Value]) -> int:
        return database.execute(sql, values)

    def query(self, sql: str, params: Sequence[Any] = (), into: Optional[Type[T]] = None) -> List[Any]:
        """The rows of a statement, as dicts by column name, or as `into`
        (a pydantic model or dataclass built from each row's columns)."""
        try:
            result = self._query(sql, [to_value(p) for p in params])
        except Err as error:
            _raise(error)
        return _into(_rows(result), into)

    def query_one(self, sql: str, params: Sequence[Any] = (), into: Optional[Type[T]] = None) -> Any:
        """The first row of a statement, or `None`."""
        rows = self.query(sql, params, into)
        return rows[0] if rows else None

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Runs a statement; the number of rows it changed."""
        try:
            return self._execute(sql, [to_value(p) for p in params])
        except Err as error:
            _raise(error)
            raise  # unreachable: _raise always raises


class Transaction(_Executor):
    """An open transaction: `with db.transaction() as tx:` commits when the
    block ends normally and rolls back when it raises."""

    def __init__(self) -> None:
        self._tx: Optional[database.Transaction] = None

    def _open(self) -> database.Transaction:
        if self._tx is None:
            raise RuntimeError("the transaction is not open")
        return self._tx

    def _query(self, sql: str, values: List[database.Value]) -> database.Rows:
        return self._open().query(sql, values)

    def _execute(self, sql: str, values: List[database.Value]) -> int:
        return self._open().execute(sql, values)

    def __enter__(self) -> "Transaction":
        try:
            self._tx = database.begin()
        except Err as error:
            _raise(error)
        return self

    def __exit__(self, kind: Any, error: Any, traceback: Any) -> None:
        tx, self._tx = self._open(), None
        try:
            if kind is None:
                database.Transaction.commit(tx)
            else:
                database.Transaction.rollback(tx)
        except Err as failure:
            if kind is None:
                _raise(failure)
            # The block's own exception is what matters; the rollback's is logged.
            log.warn("rollback failed", detail=str(getattr(failure.value, "value", failure.value)))


_direct = _Executor()
query = _direct.query
query_one = _direct.query_one
execute = _direct.execute


def transaction() -> Transaction:
    """A transaction, to be used as `with db.transaction() as tx:`."""
    return Transaction()


def dialect() -> str:
    """The dialect behind the database: `"sqlite"` or `"postgres"`."""
    return "postgres" if database.current_dialect() == Dialect.POSTGRES else "sqlite"
