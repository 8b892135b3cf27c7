"""Write berth services in Python: a FastAPI-like router over the
`berth:service` WIT world, typed bodies (pydantic models) whose JSON Schemas
the host validates, problems, the database, settings and logging."""

from . import db, log, settings
from .http import Request, Response
from .params import Path, Query
from .problem import Problem
from .router import Router
from .service import Migration, Service, Setting

__all__ = [
    "Migration", "Path", "Problem", "Query", "Request", "Response", "Router",
    "Service", "Setting", "db", "log", "settings",
]
