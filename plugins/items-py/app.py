"""The component's entry module: componentize-py exports its `Handler`."""

import items_py

Handler = items_py.build().handler()
