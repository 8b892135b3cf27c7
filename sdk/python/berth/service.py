"""A service: its manifest (`describe()`) and its request handling
(`handle()`), exported as the component's `berth:service/handler`.

    service = Service(name="items-py", version="1.0.0", description="…",
                      router=router, migrations=[…], capabilities=["database"])
    Handler = service.handler()   # componentize-py looks for `Handler`
"""

import json
import traceback
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

from componentize_py_types import Err
from wit_world.imports import types

from . import log
from .http import Request, Response
from .problem import Problem
from .router import Router
from .schema import json_schema_text

_METHODS = {
    "GET": types.Method_Get, "HEAD": types.Method_Head, "POST": types.Method_Post,
    "PUT": types.Method_Put, "PATCH": types.Method_Patch, "DELETE": types.Method_Delete,
    "OPTIONS": types.Method_Options,
}
_DIALECTS = {"sqlite": types.Dialect.SQLITE, "postgres": types.Dialect.POSTGRES}
_LOCATIONS = {"path": types.ParamLocation.PATH, "query": types.ParamLocation.QUERY}
_CAPABILITIES = {"database": types.Capability.DATABASE,
                 "outbound-http": types.Capability.OUTBOUND_HTTP}


@dataclass
class Migration:
    """One step of the schema history: `sql` on every dialect, unless
    `dialects` (e.g. `{"postgres": "…"}`) has a replacement."""

    version: int
    name: str
    sql: str
    dialects: Dict[str, str] = field(default_factory=dict)


@dataclass
class Setting:
    """A key the service reads with `settings.get`, and its default."""

    key: str
    description: str
    default: Optional[str] = None


def _method(name: str) -> types.Method:
    known = _METHODS.get(name)
    return known() if known else types.Method_Other(name)


class Service:
    def __init__(self, *, name: str, version: str, description: str, router: Router,
                 migrations: Sequence[Migration] = (), settings: Sequence[Setting] = (),
                 capabilities: Sequence[str] = ()):
        self.name = name
        self.version = version
        self.description = description
        self.router = router
        self.migrations = list(migrations)
        self.settings = list(settings)
        unknown = [c for c in capabilities if c not in _CAPABILITIES]
        if unknown:
            raise ValueError(f"unknown capabilities {unknown}; known: {sorted(_CAPABILITIES)}")
        self.capabilities = list(capabilities)

    def manifest(self) -> types.Manifest:
        """The manifest `describe()` returns."""
        routes: List[types.Route] = [
            types.Route(
                method=_method(r.method),
                path=r.path,
                summary=r.summary,
                success_status=r.status,
                request_schema=json_schema_text(r.request_model) if r.request_model else None,
                response_schema=json_schema_text(r.response_model) if r.response_model else None,
                params=[
                    types.Param(
                        name=p["name"],
                        location=_LOCATIONS[p["location"]],
                        required=p["required"],
                        description=p["description"],
                        schema=json.dumps(p["schema"], separators=(",", ":"), sort_keys=True),
                    )
                    for p in r.params()
                ],
            )
            for r in self.router.routes
        ]
        migrations = [
            types.Migration(
                version=m.version,
                name=m.name,
                sql=m.sql,
                dialect_sql=[(_DIALECTS[d], sql) for d, sql in m.dialects.items()],
            )
            for m in self.migrations
        ]
        return types.Manifest(
            name=self.name,
            version=self.version,
            description=self.description,
            routes=routes,
            migrations=migrations,
            settings=[types.Setting(s.key, s.description, s.default) for s in self.settings],
            capabilities=[_CAPABILITIES[c] for c in self.capabilities],
        )

    def respond(self, request: types.Request) -> Response:
        """Handles one request: the route's response, or raises `Problem`.
        Any other exception is logged with its traceback and raised on:
        the instance traps and the host answers 500 `service_failed`, as it
        does for a Rust panic or a JavaScript throw (a bug is a failure of
        the service, not an answer)."""
        try:
            return self.router.dispatch(Request(request))
        except Problem:
            raise
        except Exception as error:
            log.error("unhandled exception", error=repr(error),
                      traceback="".join(traceback.format_exc()))
            raise

    def handle(self, request: types.Request) -> types.Response:
        """`handle()` of the WIT export: a response, or `Err(problem)`."""
        try:
            response = self.respond(request)
        except Problem as problem:
            raise Err(types.Problem(problem.status, problem.code, problem.message,
                                    problem.field)) from None
        return types.Response(status=response.status, headers=response.headers,
                              body=response.body)

    def handler(self) -> type:
        """The class to export as `Handler` from the component's module."""
        service = self

        class Handler:
            def describe(self) -> types.Manifest:
                return service.manifest()

            def handle(self, request: types.Request) -> types.Response:
                return service.handle(request)

        return Handler
