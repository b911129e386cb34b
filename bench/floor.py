"""The floor of every benchmark figure: a bare ASGI endpoint answering a small JSON POST.

Served by the same server stack with the same workers as resell, so that figures can be given as a
ratio to it: what resell achieves of what the machine, the server and the load generator allow.
"""

from __future__ import annotations

BODY = b'{"responseCode":0,"responseMessage":"OK"}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope, receive, send):  # type: ignore[no-untyped-def]
    if scope["type"] != "http":
        return
    more = True
    while more:  # read the request body, as a real endpoint must
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
