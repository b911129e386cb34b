"""The SOAP v2.x contract (docs/soap.md), element for element, in one place.

Each operation's input element holds `secret` and `request`, its output element holds `out`; lists
are wrapped in an element named after the list that holds items named after their type
(`orderLines/createOrderLineResponseType`). This description is the single source of:

- the static WSDL files under `wsdl/` (written by `python -m resell.api.soap.wsdl`; a test checks
  that the files in the package are exactly what this description produces), and
- the codec (`codec.py`), which reads requests and writes replies in the order given here.
"""

from __future__ import annotations

from dataclasses import dataclass

SERVICES = ("catalog", "order", "customer")
VERSIONS = ("2.2", "2.3", "2.4")

# XML Schema built-in types used by the contract; anything else names a complex type below.
SIMPLE = {"string", "int", "long", "decimal", "date", "dateTime"}


@dataclass(frozen=True)
class Field:
    """One element of a sequence.

    `list_of` makes it a list wrapper: an element `name` holding any number of elements named and
    typed `list_of`. `repeated` makes the element itself occur any number of times (unwrapped).
    `key` is the name of the value in the dictionaries the services take, when it differs from
    the element name (the SOAP `metaData` is the REST `metadata`). `optional` leaves the element
    out of a reply when its value is None (minOccurs 0), where Nexway's own replies have no such
    element (`subscriptionId` on a product without a subscription); every other element is
    always written, `xsi:nil` when unknown.
    """

    name: str
    type: str = "string"
    list_of: str | None = None
    repeated: bool = False
    key: str | None = None
    optional: bool = False

    @property
    def dict_key(self) -> str:
        return self.key or self.name


def F(name: str, type: str = "string", repeated: bool = False, optional: bool = False) -> Field:
    return Field(name, type, repeated=repeated, optional=optional)


def L(name: str, item: str, key: str | None = None) -> Field:
    """A wrapped list: `<name><item/><item/></name>`."""
    return Field(name, item, list_of=item, key=key)


CODE = (F("responseCode", "int"), F("responseMessage"))

# ---------------------------------------------------------------- types, per service

LOCATION = (
    F("companyName"),
    F("title", "int"),
    F("lastName"),
    F("firstName"),
    F("address1"),
    F("address2"),
    F("zipCode"),
    F("city"),
    F("province"),
    F("country"),
    F("phone"),
    F("fax"),
)
DISCOUNT = (F("foreignRef"), F("label"), F("priceDelta", "decimal"), F("operation"), F("operationValue", "decimal"))


def _order_reply(prefix: str) -> dict[str, tuple[Field, ...]]:
    """createOut / getDataOut and their item types: the same order, type names with the operation's prefix.

    Element for element as Nexway's own create replies (copied to tests/api/soap/samples/ and held
    to by tests/api/soap/test_reply_shapes.py): no `digitalLockerLink` (REST only), `subscriptionId` only
    on the line items of a subscription.
    """
    return {
        f"{prefix}Out": (
            F("partnerOrderNumber"),
            F("orderNumber", "long"),
            L("orderLines", f"{prefix}OrderLineResponseType"),
            F("downloadManager", f"{prefix}DownloadManagerType"),
            *CODE,
        ),
        f"{prefix}OrderLineResponseType": (
            F("productRef", "long"),
            L("lineItems", f"{prefix}LineItemResponseType"),
            L("files", f"{prefix}FileResponseType"),
            F("dateEndDownload", "date"),
            F("remark"),
            *CODE,
        ),
        f"{prefix}LineItemResponseType": (
            L("serials", f"{prefix}SerialResponseType"),
            F("subscriptionId", "long", optional=True),
            *CODE,
        ),
        f"{prefix}SerialResponseType": (F("data"), F("encoding"), F("charset"), F("fileName")),
        f"{prefix}FileResponseType": (F("label"), F("type"), F("url"), F("size", "decimal"), F("group")),
        f"{prefix}DownloadManagerType": (F("pc"), F("mac")),
    }


def _history_item(name: str) -> dict[str, tuple[Field, ...]]:
    return {
        name: (
            F("partnerOrderNumber"),
            F("orderNumber", "long"),
            F("statusCode", "int"),
            F("statusDescription"),
            F("dateOrder", "dateTime"),
            F("dateInvoice", "dateTime"),
        )
    }


TYPES: dict[str, dict[str, tuple[Field, ...]]] = {
    "catalog": {
        "getCategoriesRequest": (F("productDescriptionLanguage"),),
        "getCategoriesOut": (L("categories", "getCategoriesCategoryResponseType"), *CODE),
        "getCategoriesCategoryResponseType": (
            F("id", "long"),
            F("label"),
            L("subcategories", "getCategoriesSubCategoryResponseType"),
        ),
        "getCategoriesSubCategoryResponseType": (F("id", "long"), F("label")),
        "getOperatingSystemsRequest": (),
        "getOperatingSystemsOut": (L("osList", "getOperatingSystemsOsResponseType"), *CODE),
        "getOperatingSystemsOsResponseType": (F("id", "long"), F("label")),
    },
    "order": {
        "getStockStatusRequest": (F("productRef", "long", repeated=True),),
        "getStockStatusOut": (L("productStatus", "getStockStatusproductStatusResponseType"), *CODE),
        "getStockStatusproductStatusResponseType": (F("productRef", "long"), F("status", "int"), *CODE),
        "getCrossUpSellRequest": (L("products", "getCrossUpSellProductType"), F("language")),
        "getCrossUpSellProductType": (F("productRef", "long"), F("quantity", "int")),
        "getCrossUpSellOut": (L("productsReturn", "getCrossUpSellProductReturnResponseType"), *CODE),
        "getCrossUpSellProductReturnResponseType": (
            F("ref", "long"),
            F("type"),
            F("name"),
            F("amountDutyFree", "decimal"),
            F("currency"),
            F("shortDescription"),
            F("language"),
            F("imageSmall"),
        ),
        "createRequest": (
            F("partnerOrderNumber"),
            F("orderDate"),
            F("currency"),
            F("marketingProgramId"),
            F("affiliateId", "long"),
            L("orderLines", "createOrderLinesType"),
            F("customer", "createCustomerType"),
            F("payment", "createPaymentType"),
            L("discounts", "createDiscountType"),
            L("metaData", "createMetaDataType", key="metadata"),
        ),
        "createOrderLinesType": (
            F("productRef", "long"),
            F("quantity", "int"),
            F("vatRate", "decimal"),
            F("amountDutyFree", "decimal"),
            F("amountTotal", "decimal"),
            L("discounts", "createDiscountType"),
            F("endUserEmail"),
        ),
        "createCustomerType": (
            F("partnerId"),
            F("email"),
            F("language"),
            F("locationInvoice", "createLocationType"),
            F("locationDelivery", "createLocationType"),
            F("ipV4"),
            F("ipV6"),
        ),
        "createLocationType": LOCATION,
        "createPaymentType": (F("paymentMethod"), F("transactionId")),
        "createDiscountType": DISCOUNT,
        "createMetaDataType": (F("key"), F("value")),
        **_order_reply("create"),
        "getDataRequest": (F("partnerOrderNumber"),),
        **_order_reply("getData"),
        "cancelRequest": (F("partnerOrderNumber"), F("reasonCode", "int"), F("comment")),
        "cancelOut": (F("partnerOrderNumber"), F("orderNumber", "long"), *CODE),
        "updateDownloadTimeRequest": (F("partnerOrderNumber"), F("value")),
        "updateDownloadTimeOut": (F("partnerOrderNumber"), F("newDownloadEndDate", "date"), *CODE),
        "getDownloadInfoRequest": (F("partnerOrderNumber"),),
        "getDownloadInfoOut": (
            F("partnerOrderNumber"),
            F("downloadEndDate", "date"),
            L("orderLines", "getDownloadInfoOrderLineDownloadResponseType"),
            *CODE,
        ),
        "getDownloadInfoOrderLineDownloadResponseType": (
            F("productRef", "long"),
            L("files", "getDownloadInfoFileDownloadResponseType"),
        ),
        "getDownloadInfoFileDownloadResponseType": (
            F("label"),
            F("type"),
            F("url"),
            F("size", "decimal"),
            F("group"),
            F("dateFirstDownload", "dateTime"),
            F("dateLastDownload", "dateTime"),
            F("countStartDownload", "int"),
            F("countCompleteDownload", "int"),
        ),
        "cancelSubscriptionRequest": (F("partnerOrderNumber"), F("subscriptionId", "long")),
        "cancelSubscriptionOut": CODE,
        "getAllOrdersRequest": (F("email"),),
        "getAllOrdersOut": (F("email"), L("orders", "getAllOrdersOrderResponseType"), *CODE),
        **_history_item("getAllOrdersOrderResponseType"),
    },
    "customer": {
        "getOrderHistoryRequest": (F("partnerId"),),
        "getOrderHistoryOut": (
            F("partnerId"),
            F("email"),
            L("ordersHistory", "getOrderHistoryOrderHistoryResponseType"),
            *CODE,
        ),
        **_history_item("getOrderHistoryOrderHistoryResponseType"),
    },
}


@dataclass(frozen=True)
class Operation:
    name: str
    service: str
    since: str = "2.2"  # the first version that has it

    @property
    def request_type(self) -> str:
        return f"{self.name}Request"

    @property
    def out_type(self) -> str:
        return f"{self.name}Out"


OPERATIONS: tuple[Operation, ...] = (
    Operation("getCategories", "catalog"),
    Operation("getOperatingSystems", "catalog"),
    Operation("getStockStatus", "order"),
    Operation("getCrossUpSell", "order"),
    Operation("create", "order"),
    Operation("getData", "order"),
    Operation("cancel", "order"),
    Operation("updateDownloadTime", "order"),
    Operation("getDownloadInfo", "order"),
    Operation("cancelSubscription", "order", since="2.4"),
    Operation("getAllOrders", "order", since="2.4"),
    Operation("getOrderHistory", "customer"),
)


def operations(service: str, version: str) -> dict[str, Operation]:
    """The operations a service offers in a version, by name."""
    return {
        op.name: op
        for op in OPERATIONS
        if op.service == service and tuple(map(int, version.split("."))) >= tuple(map(int, op.since.split(".")))
    }


def namespace(service: str, version: str) -> str:
    """The target namespace of a service's WSDL and of its messages."""
    return f"urn:resell:connect:{service}:v{version}"
