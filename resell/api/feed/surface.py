"""The feed surface: /flow/getcatalog/v2.4/ (api/feed/router.py). Its errors are the JSON
`{"responseCode", "responseMessage"}` with an HTTP error status, as the feed's own refusals."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.datastructures import State

from resell.api import errors
from resell.api.feed import router
from resell.api.shapes import JSONReply

MOUNTS = ("/flow",)

too_large = errors.too_large_for([])


def create(state: State) -> FastAPI:
    app = FastAPI(default_response_class=JSONReply, docs_url=None, redoc_url=None, openapi_url=None)
    app.state = state
    app.include_router(router.router)
    errors.install(app)
    return app
