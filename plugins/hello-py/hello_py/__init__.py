"""`hello-py`: the `hello` service in Python. `GET /hello-py/{name}` greets
with the deployment's `greeting` setting and logs who it greeted; no
database."""

from berth import Router, Service, Setting, log, settings
from pydantic import BaseModel

from .greeting import DEFAULT_GREETING, VERSION, greet


class Greeting(BaseModel):
    """A greeting, as answered to the client."""

    message: str
    version: str


router = Router()


def respond(name: str) -> Greeting:
    greeting = Greeting(**greet(settings.get("greeting"), name))
    log.info("greeted", name=name)
    return greeting


@router.get("/", summary="Greet the world")
def greet_world() -> Greeting:
    return respond("world")


@router.get("/{name}", summary="Greet someone by name")
def greet_by_name(name: str) -> Greeting:
    return respond(name)


service = Service(
    name="hello-py",
    version=VERSION,
    description="Greets by name.",
    router=router,
    settings=[Setting("greeting", "The word the greeting starts with", DEFAULT_GREETING)],
)
