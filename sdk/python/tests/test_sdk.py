"""The SDK run natively against fakes of the host's interfaces."""

import json
import unicodedata
import unittest
from typing import List, Optional

from componentize_py_types import Err
from pydantic import BaseModel, Extra, Field, conint, constr
from wit_world.imports import database, types

from berth import (Migration, Path, Problem, Query, Request, Response, Router, Service, Setting, db,
                   log, settings)
from berth.params import Param, convert
from berth.schema import WHITESPACE, json_schema, parse_body, strip_space

from fakes import FakeDatabase, FakeLog, request


class Thing(BaseModel):
    name: constr(strict=True, min_length=1)
    count: conint(strict=True, ge=0)
    note: Optional[str] = None

    class Config:
        extra = Extra.forbid


class Page(BaseModel):
    things: List[Thing]
    total: int


def _takes(model):
    """A handler whose body is `model`."""
    def handler(body):
        return None
    handler.__annotations__ = {"body": model}
    return handler


class Params(unittest.TestCase):
    def test_integers_convert_and_their_bounds_are_described(self):
        spec = Param(20, ge=1, le=100)
        self.assertEqual(convert("limit", "42", int, spec), 42)
        self.assertEqual(convert("limit", "+7", int, spec), 7)
        for bad in ["0", "101", "x", "1.5", " 5", "1_0", ""]:
            with self.assertRaises(Problem) as caught:
                convert("limit", bad, int, spec)
            self.assertEqual((caught.exception.status, caught.exception.field), (422, "limit"))
            self.assertEqual(caught.exception.message, "limit must be an integer from 1 to 100")

    def test_messages_follow_the_bounds(self):
        cases = [(Param(gt=0), "0", "id must be a positive integer"),
                 (Param(ge=0), "-9", "id must be an integer, zero or more"),
                 (Param(lt=5), "9", "id must be an integer less than 5"),
                 (Param(), "abc", "id must be an integer")]
        for spec, raw, message in cases:
            with self.assertRaises(Problem) as caught:
                convert("id", raw, int, spec)
            self.assertEqual(caught.exception.message, message)

    def test_integers_beyond_64_bits_are_refused(self):
        with self.assertRaises(Problem):
            convert("id", str(2**63), int, Param())

    def test_floats_bools_and_text(self):
        self.assertEqual(convert("x", "2.5", float, Param()), 2.5)
        self.assertEqual(convert("x", "1e3", Optional[float], Param()), 1000.0)
        self.assertIs(convert("x", "true", bool, Param()), True)
        self.assertIs(convert("x", "0", bool, Param()), False)
        self.assertEqual(convert("x", " as is ", str, Param()), " as is ")
        for kind, raw in [(float, "nan"), (bool, "maybe")]:
            with self.assertRaises(Problem):
                convert("x", raw, kind, Param())


class Schemas(unittest.TestCase):
    def test_optional_fields_accept_null_and_extra_fields_are_refused(self):
        schema = json_schema(Thing)
        self.assertEqual(schema["properties"]["note"]["type"], ["string", "null"])
        self.assertEqual(schema["properties"]["count"]["type"], "integer")
        self.assertEqual(schema["properties"]["count"]["minimum"], 0)
        self.assertIs(schema["additionalProperties"], False)
        self.assertEqual(schema["required"], ["name", "count"])

    def test_a_field_given_twice_is_a_422_on_the_body(self):
        with self.assertRaises(Problem) as raised:
            parse_body(Thing, b'{"name": "a", "name": "b", "count": 1}')
        self.assertEqual((raised.exception.status, raised.exception.field), (422, "body"))
        self.assertIn("duplicate field `name`", raised.exception.message)

    def test_nested_models_are_defs_referenced_by_pointer(self):
        schema = json_schema(Page)
        self.assertNotIn("definitions", schema)
        self.assertEqual(schema["properties"]["things"]["items"], {"$ref": "#/$defs/Thing"})
        self.assertEqual(schema["$defs"]["Thing"]["properties"]["note"]["type"], ["string", "null"])

    def test_a_pattern_given_by_field_is_published_and_left_to_the_host(self):
        class Named(BaseModel):
            name: constr(strict=True, min_length=1) = Field(..., pattern=r"\S")

        self.assertEqual(json_schema(Named)["properties"]["name"]["pattern"], r"\S")
        # U+001E is not white space to JSON Schema (the host let it through);
        # Python's `re` would say it is.
        self.assertEqual(parse_body(Named, b'{"name": "\\t\\n\\u001e"}').name, "\t\n\x1e")

    def test_a_body_whose_regex_python_reads_otherwise_is_refused_at_declaration(self):
        class Coded(BaseModel):
            code: constr(regex=r"^[A-Z]{2}-[0-9]+$")
            path: Optional[constr(regex=r"^\\s$")] = None  # a backslash, then "s"

        class Tagged(BaseModel):
            tags: List[constr(regex=r"\w+")]

        class Outer(BaseModel):
            inner: Optional[Tagged] = None

        accepted = Router()
        accepted.post("/")(_takes(Coded))
        for model in (Tagged, Outer):
            with self.assertRaises(TypeError) as caught:
                Router().post("/")(_takes(model))
            self.assertIn("Tagged.tags: constr(regex='\\\\w+')", str(caught.exception))
            self.assertIn("Field(pattern=", str(caught.exception))

    def test_white_space_is_what_json_schema_means_by_it(self):
        self.assertEqual(strip_space(WHITESPACE + "a b" + WHITESPACE), "a b")
        # Python's str.strip() would take the first three.
        for kept in ["\x1c", "\x1e\x1f", "\x85", "\u200b", "\u180e"]:
            self.assertEqual(strip_space(kept), kept)
        self.assertEqual(strip_space("\t\n\x1e"), "\x1e")
        # Every Unicode space separator, as ECMA-262 counts them.
        separators = {c for c in map(chr, range(0x110000)) if unicodedata.category(c) == "Zs"}
        self.assertEqual(set(WHITESPACE), separators | set("\t\n\v\f\r\u2028\u2029\ufeff"))

    def test_a_body_that_does_not_fit_names_the_field(self):
        cases = [(b'{"name": "a"}', "count"), (b'{"name": "a", "count": -1}', "count"),
                 (b'{"name": "a", "count": 1, "colour": 2}', "colour"),
                 (b'{"name": 5, "count": 1}', "name"), (b"[1, 2]", "body"),
                 (b"{not json", "body"), (b"", "body"), (b'{"name": "a", "count": 1} x', "body")]
        for body, field in cases:
            with self.assertRaises(Problem) as caught:
                parse_body(Thing, body)
            self.assertEqual((caught.exception.status, caught.exception.code, caught.exception.field),
                             (422, "validation_error", field), body)
        self.assertEqual(parse_body(Thing, b'{"name": "a", "count": 2}').count, 2)


router = Router()


@router.get("/{id}", summary="Read a thing")
def read(id: int = Path(gt=0), verbose: bool = False) -> Thing:  # noqa: A002
    if id == 404:
        raise Problem.not_found(f"thing {id} does not exist")
    if id == 500:
        raise ValueError("boom")
    return Thing(name=f"thing {id}{'!' if verbose else ''}", count=id)


@router.post("/", status=201)
def create(body: Thing, req: Request) -> Thing:
    """Create a thing.

    More words that are not the summary."""
    return Response.json(body, 201).with_header("location", f"{req.path}/1")


@router.delete("/{id}", summary="Delete a thing", status=204)
def remove(id: int) -> None:  # noqa: A002
    return None


@router.get("/", summary="List")
def listing(limit: int = Query(20, ge=1, le=100), required: str = Query()) -> dict:
    return {"limit": limit, "required": required}


service = Service(name="things", version="1.2.3", description="Things.", router=router,
                  migrations=[Migration(1, "create", "CREATE TABLE t (id INTEGER)",
                                        dialects={"postgres": "CREATE TABLE t (id BIGINT)"})],
                  settings=[Setting("greeting", "How to greet", "Hello")],
                  capabilities=["database"])


def handle(*args, **kwargs):
    return service.handle(request(*args, **kwargs))


def problem_of(*args, **kwargs):
    try:
        handle(*args, **kwargs)
    except Err as err:
        return err.value
    raise AssertionError("no problem")


class Routing(unittest.TestCase):
    def test_the_manifest_lists_routes_schemas_migrations_and_settings(self):
        manifest = service.manifest()
        self.assertEqual((manifest.name, manifest.version), ("things", "1.2.3"))
        routes = {(type(r.method).__name__, r.path): r for r in manifest.routes}
        self.assertEqual(routes[("Method_Post", "/")].summary, "Create a thing.")
        self.assertEqual(routes[("Method_Post", "/")].success_status, 201)
        self.assertEqual(json.loads(routes[("Method_Post", "/")].request_schema)["title"], "Thing")
        self.assertIsNone(routes[("Method_Get", "/{id}")].request_schema)
        self.assertEqual(json.loads(routes[("Method_Get", "/{id}")].response_schema)["title"], "Thing")
        self.assertIsNone(routes[("Method_Delete", "/{id}")].response_schema)
        self.assertEqual(manifest.migrations[0].dialect_sql,
                         [(types.Dialect.POSTGRES, "CREATE TABLE t (id BIGINT)")])
        self.assertEqual(manifest.settings[0].default, "Hello")
        self.assertEqual(manifest.capabilities, [types.Capability.DATABASE])

    def test_declared_parameters_are_published_typed(self):
        routes = {(type(r.method).__name__, r.path): r for r in service.manifest().routes}
        read = {p.name: p for p in routes[("Method_Get", "/{id}")].params}
        self.assertEqual((read["id"].location, read["id"].required),
                         (types.ParamLocation.PATH, True))
        self.assertEqual(json.loads(read["id"].schema),
                         {"type": "integer", "exclusiveMinimum": 0, "maximum": 2**63 - 1})
        self.assertEqual((read["verbose"].location, read["verbose"].required),
                         (types.ParamLocation.QUERY, False))
        self.assertEqual(json.loads(read["verbose"].schema), {"type": "boolean", "default": False})
        listing = {p.name: p for p in routes[("Method_Get", "/")].params}
        self.assertEqual(json.loads(listing["limit"].schema),
                         {"type": "integer", "minimum": 1, "maximum": 100, "default": 20})
        self.assertTrue(listing["required"].required)
        self.assertEqual(routes[("Method_Post", "/")].params, [])

    def test_an_integral_float_fits_an_integer_field(self):
        self.assertEqual(parse_body(Thing, b'{"name": "a", "count": 2978.0}').count, 2978)
        with self.assertRaises(Problem) as refused:
            parse_body(Thing, b'{"name": "a", "count": 2.5}')
        self.assertEqual(refused.exception.field, "count")

    def test_path_and_query_parameters_are_converted(self):
        response = handle("GET", "/{id}", "/things/7", params=[("id", "7")], query=[("verbose", "true")])
        self.assertEqual(response.status, 200)
        self.assertEqual(json.loads(response.body), {"name": "thing 7!", "count": 7, "note": None})
        self.assertIn(("content-type", "application/json"), response.headers)
        problem = problem_of("GET", "/{id}", params=[("id", "0")])
        self.assertEqual((problem.status, problem.field, problem.message),
                         (422, "id", "id must be a positive integer"))
        response = handle("GET", "/", query=[("required", "x")])
        self.assertEqual(json.loads(response.body), {"limit": 20, "required": "x"})
        self.assertEqual(problem_of("GET", "/", query=[("limit", "x")]).field, "limit")
        self.assertEqual(problem_of("GET", "/").field, "required")

    def test_a_body_is_parsed_and_a_response_can_carry_headers(self):
        response = handle("POST", "/", "/things", body=b'{"name": "a", "count": 1}')
        self.assertEqual(response.status, 201)
        self.assertIn(("location", "/things/1"), response.headers)
        self.assertEqual(problem_of("POST", "/", body=b'{"name": "a"}').field, "count")

    def test_none_is_an_empty_body_with_the_success_status(self):
        response = handle("DELETE", "/{id}", params=[("id", "3")])
        self.assertEqual((response.status, response.body), (204, b""))

    def test_problems_become_problem_results_and_other_exceptions_are_logged_and_raised(self):
        problem = problem_of("GET", "/{id}", params=[("id", "404")])
        self.assertEqual((problem.status, problem.code), (404, "not_found"))
        with FakeLog() as logged:
            with self.assertRaises(ValueError):
                handle("GET", "/{id}", params=[("id", "500")])
        self.assertEqual(logged.lines[0][:2], ("ERROR", "unhandled exception"))
        self.assertIn("boom", logged.lines[0][2]["traceback"])
        problem = problem_of("PUT", "/{id}", params=[("id", "1")])
        self.assertEqual((problem.status, problem.code), (404, "not_found"))

    def test_a_template_parameter_without_an_argument_is_refused_at_declaration(self):
        with self.assertRaises(TypeError):
            Router().get("/{id}")(lambda: None)


class Database(unittest.TestCase):
    def test_values_convert_both_ways(self):
        cases = [(None, database.Value_Null()), (True, database.Value_Boolean(True)),
                 (7, database.Value_Integer(7)), (1.5, database.Value_Real(1.5)),
                 ("é", database.Value_Text("é")), (b"\x00", database.Value_Blob(b"\x00"))]
        for python, wit in cases:
            self.assertEqual(db.to_value(python), wit)
            self.assertEqual(db.from_value(wit), python)
        for bad in [2**63, object()]:
            with self.assertRaises((OverflowError, TypeError)):
                db.to_value(bad)

    def test_rows_are_dicts_or_models(self):
        rows = [[database.Value_Text("a"), database.Value_Integer(1), database.Value_Null()]]
        with FakeDatabase(["name", "count", "note"], rows) as fake:
            self.assertEqual(db.query("SELECT $1", [5]), [{"name": "a", "count": 1, "note": None}])
            self.assertEqual(db.query_one("SELECT", into=Thing), Thing(name="a", count=1))
            self.assertEqual(db.execute("DELETE"), 1)
            self.assertEqual(db.dialect(), "postgres")
        self.assertEqual(fake.statements[0], ("SELECT $1", [database.Value_Integer(5)]))

    def test_a_transaction_commits_on_success_and_rolls_back_on_error(self):
        with FakeDatabase(["n"], [[database.Value_Integer(1)]]) as fake:
            with db.transaction() as tx:
                self.assertEqual(tx.query_one("SELECT 1")["n"], 1)
            with self.assertRaises(Problem):
                with db.transaction() as tx:
                    tx.execute("UPDATE")
                    raise Problem.not_found("gone")
        self.assertEqual(fake.outcomes, ["begin", "commit", "begin", "rollback"])

    def test_errors_become_problems_and_are_logged(self):
        cases = [(database.Error_ConstraintViolation("UNIQUE"), 409, "conflict"),
                 (database.Error_Unavailable("down"), 503, "unavailable"),
                 (database.Error_LimitExceeded("rows"), 500, "limit_exceeded"),
                 (database.Error_InvalidQuery("syntax"), 500, "internal_error")]
        for error, status, code in cases:
            with FakeLog() as logged, FakeDatabase(error=error):
                with self.assertRaises(db.DatabaseError) as caught:
                    db.query("SELECT")
            self.assertEqual((caught.exception.status, caught.exception.code), (status, code))
            self.assertEqual(caught.exception.detail, error.value)
            self.assertEqual(logged.lines[0][2]["detail"], error.value)


class SettingsAndLog(unittest.TestCase):
    def test_settings_fall_back_to_the_default_given(self):
        from wit_world.imports import settings as wit
        saved = (wit.get, wit.get_all)
        wit.get = {"greeting": "Hi"}.get
        wit.get_all = lambda: [("greeting", "Hi")]
        try:
            self.assertEqual(settings.get("greeting", "Hello"), "Hi")
            self.assertEqual(settings.get("missing", "Hello"), "Hello")
            self.assertIsNone(settings.get("missing"))
            self.assertEqual(settings.all(), {"greeting": "Hi"})
        finally:
            wit.get, wit.get_all = saved

    def test_log_fields_are_text(self):
        with FakeLog() as logged:
            log.info("created", id=7, ok=True)
            log.debug("d")
        self.assertEqual(logged.lines, [("INFO", "created", {"id": "7", "ok": "True"}),
                                        ("DEBUG", "d", {})])


if __name__ == "__main__":
    unittest.main()
