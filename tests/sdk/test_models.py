"""The SDK's reply models read every key the server writes: each model's wire names are exactly the
keys of the server's reply shape (resell.api.shapes), so a change of the wire format that the SDK does
not follow fails here; and the operation table names the server's routes."""

from __future__ import annotations

import pytest
from pydantic import BaseModel
from resell_client import _engine, models

from resell.api import shapes
from resell.api.rest.connect import OPERATIONS as CONNECT
from resell.api.rest.webhooks import OPERATIONS as WEBHOOKS

PAIRS: list[tuple[type[BaseModel], type[shapes.Shape]]] = [
    (models.Serial, shapes.Serial),
    (models.File, shapes.File),
    (models.DownloadFile, shapes.DownloadFile),
    (models.LineItem, shapes.LineItem),
    (models.OrderLine, shapes.OrderLine),
    (models.DownloadManager, shapes.DownloadManager),
    (models.StockItem, shapes.StockItem),
    (models.Suggestion, shapes.Suggestion),
    (models.Category, shapes.Category),
    (models.Subcategory, shapes.Subcategory),
    (models.OperatingSystem, shapes.OperatingSystem),
    (models.DownloadInfoLine, shapes.DownloadInfoLine),
    (models.Webhook, shapes.Webhook),
    (models.WebhookDelivery, shapes.WebhookDelivery),
    (models.Token, shapes.TokenReply),
]


def wire_names(model: type[BaseModel]) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()}


@pytest.mark.parametrize(("model", "shape"), PAIRS, ids=[m.__name__ for m, _ in PAIRS])
def test_item_models_match_the_servers_shapes(model: type[BaseModel], shape: type[shapes.Shape]) -> None:
    assert wire_names(model) == set(shape.model_fields)


@pytest.mark.parametrize("operation", [op for op in _engine.OPERATIONS if op.reply is not None], ids=lambda o: o.name)
def test_reply_models_match_the_servers_replies(operation: _engine.Operation[BaseModel]) -> None:
    assert operation.reply is not None
    expected = set(shapes.REPLIES[operation.name].model_fields) | set(shapes.code_keys(operation.name))
    assert wire_names(operation.reply) == expected


def test_the_operation_table_names_the_servers_routes() -> None:
    served = {(op.name, method, "/connect" + op.path) for op in CONNECT for method in op.methods}
    served |= {(op.name, method, "/connect/webhooks" + op.path.replace("endpoint_id", "id")) for op in WEBHOOKS
               for method in op.methods}  # fmt: skip
    ours = {(op.name, op.method, op.path) for op in _engine.OPERATIONS if op.path.startswith("/connect")}
    assert ours <= served
    missing = {name for name, _, _ in served} - {name for name, _, _ in ours}
    assert missing == set()  # every /connect operation has its method
