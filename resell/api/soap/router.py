"""The legacy SOAP 1.1 API (v2.2, v2.3, v2.4): WSDLs and endpoints over the same services as REST.

`GET /global/{service}/v{version}/soap?wsdl` serves the packaged WSDL with `soap:address` set to
the URL the client called; `POST` to the same path runs one operation. Business refusals are
`out.responseCode`; only a request that cannot be read (not well-formed, a DTD, too large, not a
SOAP 1.1 envelope, an unknown operation) gets a SOAP Fault, with HTTP 500 as SOAP 1.1 requires.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from resell.api.soap import codec, contract, operations, wsdl
from resell.api.soap.codec import Fault
from resell.domain import codes
from resell.domain.requests import decimal_id
from resell.logs import get_logger
from resell.services.context import Context

log = get_logger("resell.soap")

MAX_REQUEST_BYTES = 1_000_000
PATH = "/global/{service}/v{version}/soap"

router = APIRouter(tags=["soap"])


def _known(service: str, version: str) -> bool:
    return service in contract.SERVICES and version in contract.VERSIONS


def _not_found() -> Response:
    return Response("no such SOAP service\n", status_code=404, media_type="text/plain")


def _fault(error: Fault) -> Response:
    return Response(codec.fault(error), status_code=500, media_type=codec.CONTENT_TYPE)


async def read_capped(request: Request, limit: int) -> bytes:
    """The request body, refused as soon as it grows past `limit` bytes (never read whole first)."""
    declared = request.headers.get("content-length", "")
    if len(declared) > 18 or (decimal_id(declared) or 0) > limit:  # 19 digits are past any limit
        raise Fault(f"the request is larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Fault(f"the request is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@router.get(PATH, name="soapWsdl", include_in_schema=False)
def get_wsdl(service: str, version: str, request: Request) -> Response:
    if not _known(service, version):
        return _not_found()
    address = str(request.url.replace(query=""))
    return Response(wsdl.served(service, version, address), media_type=codec.CONTENT_TYPE)


@router.post(PATH, name="soap", include_in_schema=False)
async def call(service: str, version: str, request: Request) -> Response:
    if not _known(service, version):
        return _not_found()
    ctx: Context = request.app.state.ctx
    try:
        raw = await read_capped(request, MAX_REQUEST_BYTES)
        name, element = codec.parse_envelope(raw)
        operation = contract.operations(service, version).get(name)
        if operation is None:
            raise Fault(f"unknown operation {name!r} in the {service} service v{version}")
        request.state.operation = f"soap.{service}.{name}"
        secret, body = codec.read_request(service, operation, element)
        result = await run_in_threadpool(operations.run, ctx, operation, secret, body)
        request.state.merchant = result.realm
        request.state.response_code = result.out["responseCode"]
        return Response(codec.reply(service, version, operation, result.out), media_type=codec.CONTENT_TYPE)
    except Fault as error:
        return _fault(error)
    except Exception as exc:
        log.exception("soap_internal_error", service=service, version=version, error=type(exc).__name__)
        request.state.response_code = codes.INTERNAL_ERROR
        return _fault(Fault(codes.message_for(codes.INTERNAL_ERROR), code="Server"))
