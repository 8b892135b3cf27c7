"""A Python service that fails on purpose: `/boom` raises an exception that is
not a `Problem` (the host must answer 500 `service_failed` and keep
serving), `/ok` answers."""

from berth import Router, Service

router = Router()


@router.get("/boom", summary="Raises")
def boom() -> dict:
    raise RuntimeError("a bug in the service")


@router.get("/ok", summary="Answers")
def ok() -> dict:
    return {"ok": True}


Handler = Service(name="throws-py", version="1.0.0", description="Fails on purpose.",
                  router=router).handler()
