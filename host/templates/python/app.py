"""The component's entry module: componentize-py exports its `Handler`."""

import {{module}}

Handler = {{module}}.build().handler()
