"""Routes declared once with decorators: the same table answers `describe()`
and dispatches `handle()`.

    router = Router()

    @router.get("/{id}", summary="Read an item")
    def read(id: int = Path(gt=0)) -> Item: ...

A handler's parameters say what it needs: a name from the path template is
a path parameter, a pydantic model is the JSON body (its schema goes into
the manifest, so the host validates bodies first), `Request` is the whole
request, and anything else is a query parameter (required unless it has a
default). It returns a model, a dict or list (JSON with the route's success
status), `None` (an empty body) or a `Response`.
"""

import inspect
import re
import typing
from typing import Any, Callable, Dict, List, Optional

from . import params, schema
from .http import Request, Response
from .problem import Problem

_TEMPLATE_PARAM = re.compile(r"\{\*?([A-Za-z_][A-Za-z0-9_]*)\}")


class _Argument:
    def __init__(self, name: str, source: str, annotation: Any, spec: params.Param):
        self.name = name
        self.source = source  # "request", "body", "path" or "query"
        self.annotation = annotation
        self.spec = spec

    def value(self, request: Request) -> Any:
        if self.source == "request":
            return request
        if self.source == "body":
            return schema.parse_body(self.annotation, request.body)
        key = self.spec.alias or self.name
        raw = request.params.get(key) if self.source == "path" else request.query(key)
        if raw is None:
            if self.spec.required:
                raise Problem.validation(key, f"{key} is required")
            return self.spec.default
        return params.convert(key, raw, self.annotation, self.spec)


class Route:
    """One declared route: what `describe()` publishes and what `handle()`
    calls."""

    def __init__(self, method: str, path: str, summary: str, status: int,
                 handler: Callable[..., Any], response_model: Optional[type]):
        self.method = method
        self.path = path
        self.summary = summary
        self.status = status
        self.handler = handler
        hints = typing.get_type_hints(handler)
        self.arguments = [self._argument(p, hints.get(p.name, Any))
                          for p in inspect.signature(handler).parameters.values()]
        returned = hints.get("return")
        self.response_model = response_model or (returned if schema.is_model(returned) else None)
        bodies = [a for a in self.arguments if a.source == "body"]
        if len(bodies) > 1:
            raise TypeError(f"{handler.__name__}: at most one body parameter")
        self.request_model = bodies[0].annotation if bodies else None
        if self.request_model is not None:
            schema.check_patterns(self.request_model)
        unused = set(_TEMPLATE_PARAM.findall(path)) - {a.name for a in self.arguments}
        if unused:
            raise TypeError(f"{handler.__name__}: no parameter for {sorted(unused)} of {path}")

    def _argument(self, parameter: inspect.Parameter, annotation: Any) -> _Argument:
        default = parameter.default
        spec = default if isinstance(default, params.Param) else params.Param(
            params.REQUIRED if default is inspect.Parameter.empty else default)
        if annotation is Request:
            return _Argument(parameter.name, "request", annotation, spec)
        if parameter.name in _TEMPLATE_PARAM.findall(self.path):
            return _Argument(parameter.name, "path", annotation, spec)
        if schema.is_model(annotation):
            return _Argument(parameter.name, "body", annotation, spec)
        return _Argument(parameter.name, "query", annotation, spec)

    def params(self) -> List[Dict[str, Any]]:
        """The path and query parameters it declares, for the manifest:
        name, location, required, description and JSON Schema."""
        declared = []
        for a in self.arguments:
            if a.source not in ("path", "query"):
                continue
            optional = typing.get_origin(a.annotation) is typing.Union and type(None) in typing.get_args(a.annotation)
            declared.append({
                "name": a.spec.alias or a.name,
                "location": a.source,
                "required": a.source == "path" or (a.spec.required and not optional),
                "description": a.spec.description,
                "schema": params.json_schema(a.annotation, a.spec),
            })
        return declared

    def call(self, request: Request) -> Response:
        kwargs = {a.name: a.value(request) for a in self.arguments}
        result = self.handler(**kwargs)
        if isinstance(result, Response):
            return result
        if result is None:
            return Response.empty(self.status)
        return Response.json(result, self.status)


class Router:
    """The routes of a service, relative to its mount point (`/<name>`)."""

    def __init__(self) -> None:
        self.routes: List[Route] = []

    def route(self, method: str, path: str, *, summary: Optional[str] = None, status: int = 200,
              response_model: Optional[type] = None) -> Callable[[Callable], Callable]:
        """Declares `handler` for `method` and the path template `path`
        (`/`, `/{id}`, `/{*rest}`); `status` is its success status. The
        summary defaults to the first line of the handler's docstring."""

        def register(handler: Callable[..., Any]) -> Callable[..., Any]:
            doc = (inspect.getdoc(handler) or handler.__name__).strip().splitlines()[0]
            self.routes.append(Route(method.upper(), path, summary or doc, status, handler,
                                     response_model))
            return handler

        return register

    def get(self, path: str, **options: Any) -> Callable[[Callable], Callable]:
        return self.route("GET", path, **options)

    def post(self, path: str, **options: Any) -> Callable[[Callable], Callable]:
        return self.route("POST", path, **options)

    def put(self, path: str, **options: Any) -> Callable[[Callable], Callable]:
        return self.route("PUT", path, **options)

    def patch(self, path: str, **options: Any) -> Callable[[Callable], Callable]:
        return self.route("PATCH", path, **options)

    def delete(self, path: str, **options: Any) -> Callable[[Callable], Callable]:
        return self.route("DELETE", path, **options)

    def find(self, method: str, template: str) -> Route:
        """The route the host matched (it sends the template it matched)."""
        for route in self.routes:
            if route.method == method and route.path == template:
                return route
        raise Problem.not_found(f"this service has no route {method} {template}")

    def dispatch(self, request: Request) -> Response:
        return self.find(request.method, request.route).call(request)

    def schemas(self) -> Dict[str, Any]:
        """Every route's request and response schema, by `METHOD path`."""
        return {f"{r.method} {r.path}": (
            schema.json_schema(r.request_model) if r.request_model else None,
            schema.json_schema(r.response_model) if r.response_model else None,
        ) for r in self.routes}
