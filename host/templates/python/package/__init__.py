"""`{{name}}`: a berth service in the seed's layout: `models` (its table and
migrations), `schemas` (request and response bodies), `routes` (what it
serves) and `service` (business logic, unit-tested natively)."""

from berth import Service

from .models import MIGRATIONS
from .routes import router


def build() -> Service:
    return Service(
        name="{{name}}",
        version="0.1.0",
        description="Notes: write one, read it back.",
        router=router,
        migrations=MIGRATIONS,
        capabilities=["database"],
    )
