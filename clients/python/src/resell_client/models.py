"""Typed requests and replies of the Connect API (pydantic v2).

Attributes are snake_case; on the wire each field keeps the contract's name (camelCase, or the few
snake_case keys of the token reply and getSubscriptionStatus). Replies ignore keys they do not know,
so a newer server does not break an older client; requests leave out what is None.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer
from pydantic.alias_generators import to_camel


class Model(BaseModel):
    """Wire names as aliases, Python names as attributes; both accepted when building one."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    def to_wire(self) -> dict[str, Any]:
        """The JSON body: wire names, None left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class Reply(Model):
    """Every business reply ends with its code and message (0 and "OK" in a reply the client returns)."""

    response_code: int = 0
    response_message: str = "OK"


# ---------------------------------------------------------------- createOrder request


class Location(Model):
    company_name: str | None = None
    title: int | None = None
    last_name: str | None = None
    first_name: str | None = None
    address1: str | None = None
    address2: str | None = None
    zip_code: str | None = None
    city: str | None = None
    province: str | None = None  # required for US, CA, BR, AU (1048)
    country: str | None = None  # ISO 3166-1 alpha-2
    phone: str | None = None
    fax: str | None = None


class Customer(Model):
    email: str
    location_invoice: Location
    partner_id: str | None = None  # the merchant's own customer id
    language: str | None = None  # ll_CC: en_US, fr_FR, en_XE
    location_delivery: Location | None = None  # required with a backup DVD
    ip_v4: str | None = None
    ip_v6: str | None = None


class Payment(Model):
    payment_method: str = "External Payment"
    transaction_id: str | None = None


class Discount(Model):
    foreign_ref: str | None = None
    label: str | None = None
    price_delta: float | None = None
    operation: str | None = None  # PERCENT or AMOUNT
    operation_value: float | None = None


class Metadata(Model):
    key: str
    value: str | None = None


class OrderLineRequest(Model):
    product_ref: int
    quantity: int = 1
    vat_rate: float | None = None
    amount_duty_free: float | None = None
    amount_total: float | None = None
    discounts: list[Discount] | None = None
    end_user_email: str | None = None


class OrderRequest(Model):
    """The createOrder body (contract 4.1). `order_date` defaults to now (UTC)."""

    partner_order_number: str
    currency: str
    order_lines: list[OrderLineRequest]
    customer: Customer
    order_date: dt.datetime | str = Field(default_factory=lambda: dt.datetime.now(dt.UTC).replace(microsecond=0))
    marketing_program_id: str | None = None
    affiliate_id: int | None = None
    payment: Payment | None = None
    discounts: list[Discount] | None = None
    metadata: list[Metadata] | None = None

    @field_serializer("order_date")
    def _order_date(self, value: dt.datetime | str) -> str:
        if isinstance(value, str):
            return value
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.isoformat()  # with its offset, +00:00 as the contract writes it


class CartItem(Model):
    """A product of the cart given to getCrossUpSell."""

    product_ref: int
    quantity: int = 1


# ---------------------------------------------------------------- replies


class Serial(Model):
    data: str
    encoding: str = "text"
    charset: str = "utf-8"
    file_name: str = ""


class File(Model):
    label: str
    type: str
    url: str
    size: int
    group: str


class LineItem(Model):
    serials: list[Serial]
    subscription_id: int | None = None
    response_code: int = 0
    response_message: str = ""


class OrderLine(Model):
    product_ref: int
    line_items: list[LineItem]
    files: list[File]
    date_end_download: dt.date | None = None
    digital_locker_link: str | None = None
    remark: str = ""
    response_code: int = 0
    response_message: str = ""

    @property
    def serials(self) -> list[str]:
        """Every serial of the line, in order."""
        return [s.data for item in self.line_items for s in item.serials]


class DownloadManager(Model):
    pc: str
    mac: str


class Order(Reply):
    """createOrder and getOrderData."""

    partner_order_number: str
    order_number: int
    order_lines: list[OrderLine]
    download_manager: DownloadManager | None = None

    @property
    def serials(self) -> list[str]:
        return [serial for line in self.order_lines for serial in line.serials]


class StockItem(Model):
    """`status`: 100 enough, 200 almost out, 300 out of stock; an item refused (unknown ref: 1010) has
    its own response_code and no status."""

    product_ref: int | None
    status: int | None
    response_code: int
    response_message: str

    ENOUGH: ClassVar[int] = 100
    ALMOST_OUT: ClassVar[int] = 200
    OUT: ClassVar[int] = 300

    @property
    def in_stock(self) -> bool:
        return self.response_code == 0 and self.status in (100, 200)


class StockStatus(Reply):
    product_status: list[StockItem]

    def of(self, product_ref: int) -> StockItem | None:
        return next((i for i in self.product_status if i.product_ref == product_ref), None)


class Suggestion(Model):
    ref: int
    type: Literal["option", "up", "cross"] | str
    name: str
    amount_duty_free: float | None = None
    currency: str
    short_description: str
    language: str
    image_small: str | None = None


class CrossUpSell(Reply):
    products_return: list[Suggestion]


class CancelledOrder(Reply):
    partner_order_number: str
    order_number: int
    new_download_end_date: dt.date


class DownloadFile(File):
    date_first_download: dt.datetime | None = None
    date_last_download: dt.datetime | None = None
    count_start_download: int = 0
    count_complete_download: int = 0


class DownloadInfoLine(Model):
    product_ref: int
    files: list[DownloadFile]


class DownloadInfo(Reply):
    partner_order_number: str
    download_end_date: dt.date | None = None
    order_lines: list[DownloadInfoLine]


class DownloadTime(Reply):
    partner_order_number: str
    new_download_end_date: dt.date


class SubscriptionStatus(Reply):
    """getSubscriptionStatus: the wire says `code`/`message`, read here as response_code/response_message."""

    response_code: int = Field(0, alias="code")
    response_message: str = Field("OK", alias="message")
    partner_order_number: str
    subscription_id: int
    product_ref: int
    period: str  # ISO 8601: P1Y, P1M
    generation: int  # 0 for the first term, +1 per renewal
    technical_status: Literal["ACTIVE", "CANCELLED", "TERMINATED", "EXPIRED", "RENEWAL_PENDING"] | str
    creation_datetime: dt.datetime = Field(alias="creation_datetime")
    update_datetime: dt.datetime = Field(alias="update_datetime")
    expiration_datetime: dt.datetime = Field(alias="expiration_datetime")
    next_status_change_datetime: dt.datetime | None = Field(None, alias="next_status_change_datetime")
    currency: str
    amount: float | None = None


class SubscriptionChange(Reply):
    """cancelSubscription (the order named) and renewSubscription (the renewal order just created)."""

    partner_order_number: str
    subscription_id: int
    order_number: int


class Subcategory(Model):
    id: int
    label: str


class Category(Model):
    id: int
    label: str
    subcategories: list[Subcategory]


class Categories(Reply):
    category_list: list[Category]


class OperatingSystem(Model):
    id: int
    label: str


class OperatingSystems(Reply):
    os_list: list[OperatingSystem]


class Status(Reply):
    status: str
    version: str
    time: dt.datetime


class Webhook(Model):
    id: int
    url: str
    events: list[str]
    active: bool
    created_at: dt.datetime
    disabled_at: dt.datetime | None = None
    disabled_reason: str | None = None


class Webhooks(Reply):
    webhooks: list[Webhook]


class CreatedWebhook(Reply):
    """The signing secret (`whsec_...`) is in this reply only: keep it."""

    id: int
    url: str
    events: list[str]
    signing_secret: str


class RemovedWebhook(Reply):
    id: int


class WebhookDelivery(Model):
    """One attempt of a delivery log: `status_code` None when no HTTP reply came (`error` says why)."""

    id: int
    event_id: str
    event_type: str | None = None
    attempt: int
    at: dt.datetime
    status_code: int | None = None
    error: str | None = None
    duration_ms: int | None = None


class WebhookDeliveries(Reply):
    """A page of an endpoint's delivery log, newest first; `next_before` (None: the last page) asks
    for the next, older page."""

    id: int
    deliveries: list[WebhookDelivery]
    next_before: int | None = None


class RedeliveredEvent(Reply):
    id: int
    event_id: str
    event_type: str


class TestClock(Reply):
    """A sandbox's test clock: the time its subscriptions live on; `frozen` False until first advanced
    (it follows real time until then)."""

    __test__ = False  # not a pytest test class
    clock_time: dt.datetime
    frozen: bool


class AdvancedTestClock(TestClock):
    """advanceTestClock: the clock's new time, and what happened to the sandbox's subscriptions on the way
    (renewals, expiries, failed renewal attempts)."""

    renewed: int
    expired: int
    failed: int


class Token(BaseModel):
    """POST /iam/tokens (snake_case on the wire)."""

    model_config = ConfigDict(extra="ignore")

    access_token: str
    refresh_token: str
    expires_in: int
    refresh_expires_in: int
    token_type: str = "Bearer"
    session_state: str | None = None


class WebhookEvent(BaseModel):
    """A verified webhook message: `type` (order.created, subscription.renewed, ...), `timestamp` and
    `data` (the event's fields, wire names); `id` is the webhook-id header (deduplicate on it)."""

    model_config = ConfigDict(extra="ignore")

    id: str
    type: str
    timestamp: dt.datetime
    data: dict[str, Any]
