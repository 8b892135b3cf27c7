"""Structured log messages into the host's tracing, inside the request's
span: `log.info("item created", id=7)`."""

from typing import Any

from wit_world.imports import log as _wit


def _emit(level: "_wit.Level", message: str, fields: dict) -> None:
    _wit.log(level, message, [(str(k), str(v)) for k, v in fields.items()])


def trace(message: str, **fields: Any) -> None:
    _emit(_wit.Level.TRACE, message, fields)


def debug(message: str, **fields: Any) -> None:
    _emit(_wit.Level.DEBUG, message, fields)


def info(message: str, **fields: Any) -> None:
    _emit(_wit.Level.INFO, message, fields)


def warn(message: str, **fields: Any) -> None:
    _emit(_wit.Level.WARN, message, fields)


def error(message: str, **fields: Any) -> None:
    _emit(_wit.Level.ERROR, message, fields)
