"""A Python service whose `describe()` raises: the host must refuse it at
deploy (`describe_failed`) and keep serving everything else."""

from berth import Router, Service

router = Router()


@router.get("/", summary="Never served")
def never() -> dict:
    return {"served": True}


class Broken(Service):
    def manifest(self):
        raise RuntimeError("describe() fails on purpose")


Handler = Broken(name="hostile-py-describe", version="0.0.1", description="Fails to describe itself.",
                 router=router).handler()
