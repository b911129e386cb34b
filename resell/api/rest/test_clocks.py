"""A sandbox catalogue's test clock: GET and POST /connect/sandbox/clock (the usual token, and the
sandbox's `test_` secret).

Parse, call resell.services.test_clocks, render; run by api/rest/dispatch.py like every /connect
operation. POST answers once everything due up to the new time has happened.
"""

from __future__ import annotations

from fastapi import APIRouter

from resell.api import shapes
from resell.api.rest.dispatch import Body, Call, Operation, add_routes
from resell.api.shapes import JSONReply
from resell.domain.codes import Refusal
from resell.services import test_clocks


def get_test_clock(call: Call) -> Body:
    try:
        return shapes.test_clock("getTestClock", test_clocks.get_clock(call.ctx, call.who))
    except Refusal as refusal:
        return shapes.refusal("getTestClock", refusal)


def advance_test_clock(call: Call) -> Body:
    data = call.body
    try:
        view = test_clocks.advance_clock(call.ctx, call.who, data.get("advanceTo"), data.get("advanceBy"))
    except Refusal as refusal:
        return shapes.refusal("advanceTestClock", refusal)
    return shapes.test_clock("advanceTestClock", view)


OPERATIONS = [
    Operation("getTestClock", ("GET",), "", get_test_clock, reads_body=False, in_thread_pool=True),
    Operation("advanceTestClock", ("POST",), "", advance_test_clock, reads_body=True, in_thread_pool=True),
]

router = APIRouter(prefix="/connect/sandbox/clock", default_response_class=JSONReply, tags=["sandbox"])
add_routes(router, OPERATIONS)
