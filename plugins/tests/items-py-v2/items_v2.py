"""items-py as a second build with another version, for the hot-swap test."""

import items_py

Handler = items_py.build("2.0.0").handler()
