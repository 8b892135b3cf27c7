"""The business logic of items-py, run natively."""

import re
import unittest

from berth import Problem

from items_py import build
from items_py.schemas import ItemInput, ItemPatch
from items_py.service import apply_patch, now, validate


def item(**changes):
    fields = {"name": "Widget", "description": "A thing", "price": 9.5, "quantity": 3}
    fields.update(changes)
    return ItemInput(**fields)


class Service(unittest.TestCase):
    def test_a_valid_item_passes_with_its_name_trimmed(self):
        self.assertEqual(validate(item(name="  Widget ")).name, "Widget")

    def test_a_name_is_trimmed_of_what_the_schema_calls_white_space_and_only_that(self):
        self.assertEqual(validate(item(name="\ufeff\u3000Widget\u2028")).name, "Widget")
        for kept in ["\x1e", "\x1c\x1f", "\x85"]:
            self.assertEqual(validate(item(name=kept)).name, kept)
        self.assertEqual(validate(item(name="\t\n\x1e")).name, "\x1e")

    def test_an_empty_or_overlong_name_is_refused_naming_the_field(self):
        for name in ["   ", "x" * 101]:
            with self.assertRaises(Problem) as caught:
                validate(ItemInput.construct(**{**item().dict(), "name": name}))
            self.assertEqual((caught.exception.status, caught.exception.field), (422, "name"))
        validate(item(name="é" * 100))

    def test_a_negative_or_infinite_price_is_refused(self):
        for price in [-0.01, float("inf"), float("nan")]:
            with self.assertRaises(Problem) as caught:
                validate(ItemInput.construct(**{**item().dict(), "price": price}))
            self.assertEqual(caught.exception.field, "price")
        validate(item(price=0))

    def test_an_overlong_description_is_refused(self):
        with self.assertRaises(Problem) as caught:
            validate(ItemInput.construct(**{**item().dict(), "description": "d" * 1001}))
        self.assertEqual(caught.exception.field, "description")

    def test_a_patch_changes_only_the_given_fields(self):
        self.assertEqual(apply_patch(item(), ItemPatch(price=1.25)), item(price=1.25))

    def test_a_patch_with_null_description_clears_it_and_other_nulls_keep_the_field(self):
        self.assertIsNone(apply_patch(item(), ItemPatch.parse_raw('{"description": null}')).description)
        self.assertEqual(apply_patch(item(), ItemPatch.parse_raw("{}")).description, "A thing")
        self.assertEqual(apply_patch(item(), ItemPatch.parse_raw('{"name": null}')).name, "Widget")

    def test_a_patch_is_validated_after_merging(self):
        with self.assertRaises(Problem) as caught:
            apply_patch(item(), ItemPatch.construct(name=" "))  # past the schema, which refuses it too
        self.assertEqual(caught.exception.field, "name")

    def test_timestamps_are_rfc3339_with_milliseconds_in_utc(self):
        self.assertRegex(now(), re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"))

    def test_the_manifest_matches_the_rust_items(self):
        manifest = build().manifest()
        self.assertEqual(manifest.name, "items-py")
        self.assertEqual([(type(r.method).__name__[7:].upper(), r.path, r.success_status)
                          for r in manifest.routes],
                         [("POST", "/", 201), ("GET", "/", 200), ("GET", "/{id}", 200),
                          ("PUT", "/{id}", 200), ("PATCH", "/{id}", 200), ("DELETE", "/{id}", 204)])
        self.assertEqual([m.version for m in manifest.migrations], [1, 2])


if __name__ == "__main__":
    unittest.main()
