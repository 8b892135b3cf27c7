"""The component's entry module: componentize-py exports its `Handler`."""

import hello_py

Handler = hello_py.service.handler()
