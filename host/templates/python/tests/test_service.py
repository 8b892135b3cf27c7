"""The business logic of {{name}}, run natively (`berth build` runs it first)."""

import unittest

from berth import Problem

from {{module}}.service import tidy


class Service(unittest.TestCase):
    def test_text_is_trimmed_and_blank_text_refused(self):
        self.assertEqual(tidy("  hello "), "hello")
        with self.assertRaises(Problem) as caught:
            tidy(" \t")
        self.assertEqual(caught.exception.field, "text")


if __name__ == "__main__":
    unittest.main()
