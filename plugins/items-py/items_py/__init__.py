"""`items-py`: the example service of `plugins/items`, in Python. A CRUD API
over items stored in the service's own database.

The layout follows the FastAPI seed: `models` (table and migrations),
`schemas` (request and response bodies), `routes` (what the service serves)
and `service` (business logic, unit-tested natively)."""

from berth import Service

from .models import MIGRATIONS
from .routes import router

VERSION = "1.0.0"


def build(version: str = VERSION) -> Service:
    return Service(
        name="items-py",
        version=version,
        description="Create, read, update, delete and list items (in Python).",
        router=router,
        migrations=MIGRATIONS,
        capabilities=["database"],
    )
