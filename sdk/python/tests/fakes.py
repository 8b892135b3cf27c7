"""Stand-ins for the host, for running SDK code natively: a WIT request
builder and an in-memory `database` interface that records what it is sent.

The generated bindings (`componentize-py -d wit -w service bindings DIR`)
must be on `sys.path`; `cargo xtask plugins` runs these tests with them."""

from wit_world.imports import database, types
from componentize_py_types import Err

METHODS = {"GET": types.Method_Get, "POST": types.Method_Post, "PUT": types.Method_Put,
           "PATCH": types.Method_Patch, "DELETE": types.Method_Delete}


def request(method, route, path=None, params=(), query=(), body=b"", headers=()):
    return types.Request(method=METHODS[method](), path=path or route, route=route,
                         params=list(params), query=list(query), headers=list(headers),
                         body=body, request_id="req-1", tenant="default")


class FakeDatabase:
    """Replaces the `database` imports; answers every query with `rows` and
    records statements, transactions and their outcome."""

    def __init__(self, columns=(), rows=(), error=None):
        self.result = database.Rows(columns=list(columns), rows=[list(r) for r in rows])
        self.error = error
        self.statements = []
        self.outcomes = []
        self._saved = {}

    def __enter__(self):
        fake = self

        class Tx:
            def query(self, sql, params):
                return fake.query(sql, params)

            def execute(self, sql, params):
                return fake.execute(sql, params)

        class TxClass:
            @classmethod
            def commit(cls, this):
                fake.outcomes.append("commit")

            @classmethod
            def rollback(cls, this):
                fake.outcomes.append("rollback")

        replacements = {"query": self.query, "execute": self.execute,
                        "begin": lambda: (self.outcomes.append("begin"), Tx())[1],
                        "Transaction": TxClass,
                        "current_dialect": lambda: types.Dialect.POSTGRES}
        for name, value in replacements.items():
            self._saved[name] = getattr(database, name)
            setattr(database, name, value)
        return self

    def __exit__(self, *exc):
        for name, value in self._saved.items():
            setattr(database, name, value)

    def query(self, sql, params):
        self.statements.append((sql, params))
        if self.error is not None:
            raise Err(self.error)
        return self.result

    def execute(self, sql, params):
        self.statements.append((sql, params))
        if self.error is not None:
            raise Err(self.error)
        return len(self.result.rows)


class FakeLog:
    """Replaces the `log` import and keeps what was logged."""

    def __init__(self):
        self.lines = []

    def __enter__(self):
        from wit_world.imports import log
        self._module, self._saved = log, log.log
        log.log = lambda level, message, fields: self.lines.append((level.name, message, dict(fields)))
        return self

    def __exit__(self, *exc):
        self._module.log = self._saved
