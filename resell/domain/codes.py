"""Response codes of the Connect API and the refusal that carries them (replies: README, "The merchant flow").

A service refuses a request by raising `Refusal(code)`; every protocol renders it the same way,
so a code and its message are defined once, here. Services and the parsers raise codes by name: a
number that means different things in different operations (1010 is "order already created" in
createOrder, "order not found" in getOrderData) has one name per meaning; its wording in each
operation comes from MESSAGES and OPERATION_MESSAGES below, the wire contract.
"""

from __future__ import annotations

# ---------------------------------------------------------------- names, per operation

# every operation
OK = 0
SECRET_MISSING = 70
SECRET_NOT_VALID = 71
INTERNAL_ERROR = 1000
MALFORMED = 1030  # a body that is no JSON object or XML document, or a field no code covers

# createOrder: the request (resell.domain.order_request), in the contract's field order
ORDER_MISSING = 100  # an empty body
CURRENCY_MISSING = 120
CURRENCY_NOT_VALID = 121
PARTNER_ORDER_NUMBER_MISSING = 130  # and not valid: the contract has one code for both
ORDER_DATE_MISSING = 140
ORDER_DATE_NOT_VALID = 141
ORDER_LINES_MISSING = 200
TOO_MANY_LINES = 201  # resell's own: more lines than the order_max_lines setting allows (docs/limits.md)
PRODUCT_REF_MISSING = 210
PRODUCT_REF_NOT_VALID = 211
QUANTITY_MISSING = 220
QUANTITY_NOT_VALID = 221
VAT_RATE_NOT_VALID = 231
AMOUNT_DUTY_FREE_NOT_VALID = 241
AMOUNT_TOTAL_NOT_VALID = 251
CUSTOMER_PARTNER_ID_NOT_VALID = 311
CUSTOMER_EMAIL_MISSING = 320
CUSTOMER_EMAIL_NOT_VALID = 321  # the end user's email of a line too
CUSTOMER_LANGUAGE_NOT_VALID = 331
IP_NOT_VALID = 341  # ipV4, and ipV6 that has no code of its own
DELIVERY_LOCATION_MISSING = 410
INVOICE_LOCATION_MISSING = 420
TITLE_NOT_VALID = 431
LAST_NAME_NOT_VALID = 441
FIRST_NAME_NOT_VALID = 451
ADDRESS_NOT_VALID = 461  # address1 and address2
ZIP_CODE_NOT_VALID = 481
CITY_NOT_VALID = 491
COUNTRY_MISSING = 500
COUNTRY_NOT_VALID = 501
PHONE_NOT_VALID = 531
FAX_NOT_VALID = 541
PROVINCE_NOT_VALID = 551  # not text; a province that is not one of the country's is PROVINCE_UNKNOWN
DISCOUNTS_NOT_VALID = 600  # "discount missing": a discount list that is no list of objects
DISCOUNT_FOREIGN_REF_MISSING = 610
DISCOUNT_FOREIGN_REF_NOT_VALID = 611
DISCOUNT_LABEL_MISSING = 620
DISCOUNT_LABEL_NOT_VALID = 621
DISCOUNT_PRICE_DELTA_MISSING = 630
DISCOUNT_PRICE_DELTA_NOT_VALID = 631
DISCOUNT_OPERATION_MISSING = 640
DISCOUNT_OPERATION_NOT_VALID = 641
DISCOUNT_OPERATION_VALUE_MISSING = 650
DISCOUNT_OPERATION_VALUE_NOT_VALID = 651
PAYMENT_NOT_VALID = 700  # "payment missing": a payment that is no object
PAYMENT_METHOD_MISSING = 710
PAYMENT_METHOD_NOT_VALID = 711
TRANSACTION_ID_NOT_VALID = 721
METADATA_NOT_VALID = 750  # "metadata missing": metadata that is no list
METADATA_KEY_MISSING = 751
# createOrder: what the catalogue, the stock and the merchant's orders say
ORDER_ALREADY_CREATED = 1010
PRODUCT_UNKNOWN = 1020
CURRENCY_UNKNOWN = 1021
LANGUAGE_UNKNOWN = 1022  # getCategories' language too
COUNTRY_UNKNOWN = 1023
AFFILIATE_NOT_VALID = 1035
BACKUP_DVD_IMPOSSIBLE = 1041
OPTION_NOT_ELIGIBLE = 1042
OPTION_WITHOUT_BASE = 1043
OUT_OF_STOCK = 1044  # renewSubscription's "no stock to renew" too
IP_REQUIRED = 1046  # with a payment
PROVINCE_REQUIRED = 1048
PROVINCE_UNKNOWN = 1049
LICENCES_NOT_AVAILABLE = 1051  # withdrawn, not yet released, or a key generator failed (renewals too)
AMOUNTS_REQUIRED = 1053

# getOrderData, getDownloadInfo, updateDownloadTime, cancelOrder: the order they name
ORDER_NUMBER_MISSING = 100  # cancelOrder's is CANCEL_ORDER_NUMBER_MISSING
ORDER_NOT_FOUND = 1010
ORDER_ALREADY_CANCELLED = 1011
# updateDownloadTime
DOWNLOAD_TIME_MISSING = 110
DOWNLOAD_TIME_NOT_VALID = 111
# cancelOrder
CANCEL_REASON_MISSING = 100
CANCEL_REASON_NOT_VALID = 101
CANCEL_ORDER_NUMBER_MISSING = 110
CANCEL_PERIOD_EXPIRED = 1020

# getSubscriptionStatus, cancelSubscription, renewSubscription (and ORDER_NUMBER_MISSING)
SUBSCRIPTION_ID_MISSING = 110
SUBSCRIPTION_ID_NOT_VALID = 111
SUBSCRIPTION_NOT_FOUND = 1010
SUBSCRIPTION_ENDED = 1011  # already cancelled or terminated

# getStockStatus (per ref, or for the whole call)
STOCK_REFS_MISSING = 100
STOCK_REFS_NOT_VALID = 101  # a ref that is no positive number; more refs than the stock_max_refs setting
PRODUCT_NOT_FOUND = 1010  # getCrossUpSell's too
# getCrossUpSell
CART_MISSING = 100
CART_PRODUCT_REF_MISSING = 110  # an item that is no object too
CART_PRODUCT_REF_NOT_VALID = 111
CART_QUANTITY_MISSING = 120
CART_QUANTITY_NOT_VALID = 121
SUGGESTION_LANGUAGE_MISSING = 130
SUGGESTION_LANGUAGE_NOT_VALID = 131

# addWebhook, removeWebhook
WEBHOOK_URL_MISSING = 100
WEBHOOK_URL_NOT_VALID = 101
WEBHOOK_EVENTS_MISSING = 110
WEBHOOK_EVENTS_NOT_VALID = 111
TOO_MANY_WEBHOOKS = 1060  # the merchant has RESELL_WEBHOOK_MAX_ENDPOINTS endpoints already
WEBHOOK_ID_MISSING = 100
WEBHOOK_ID_NOT_VALID = 101
WEBHOOK_NOT_FOUND = 1010
# listWebhookDeliveries, redeliverWebhookEvent (and the WEBHOOK_ID_* codes above)
DELIVERY_LIMIT_NOT_VALID = 111
DELIVERY_BEFORE_NOT_VALID = 121
WEBHOOK_EVENT_ID_MISSING = 110
WEBHOOK_EVENT_NOT_FOUND = 1011  # no event of the merchant's with this id, or the endpoint does not take its type
WEBHOOK_NOT_ACTIVE = 1012  # the endpoint is disabled: nothing is delivered to it

# getTestClock, advanceTestClock: a sandbox catalogue's test clock (resell.services.test_clocks)
CLOCK_MOVE_MISSING = 100  # neither advanceTo nor advanceBy (or both)
CLOCK_ADVANCE_TO_NOT_VALID = 101
CLOCK_ADVANCE_BY_NOT_VALID = 111
CLOCK_NOT_SANDBOX = 1070  # a live secret: test clocks are the sandbox's
CLOCK_BACKWARDS = 1071  # advanceTo before the clock's time

# getOrderHistory, getAllOrders (resell.services.history)
HISTORY_PARTNER_ID_MISSING = 100
PARTNER_NOT_FOUND = 1010
HISTORY_EMAIL_MISSING = 100
HISTORY_EMAIL_NOT_VALID = 101
CUSTOMER_NOT_FOUND = 1010

# getCatalog, the product feed (resell.services.feeds)
FEED_PROVIDER_MISSING = 100
FEED_CONFIG_MISSING = 110
FEED_DIFF_NOT_VALID = 121
FEED_CONFIG_NOT_FOUND = 1010

# ---------------------------------------------------------------- messages (the wire contract)

# Generic messages; an operation may use a more specific one (see OPERATION_MESSAGES).
MESSAGES: dict[int, str] = {
    0: "OK",
    70: "secret is missing",
    71: "secret not valid",
    100: "order missing",
    101: "value not valid",
    110: "value missing",
    111: "value not valid",
    120: "currency missing",
    121: "currency not valid",
    130: "partnerOrderNumber missing",
    140: "orderDate missing",
    141: "orderDate not valid",
    200: "orderLines missing",
    201: "orderLines not valid",  # resell's own: more lines than the order_max_lines setting allows
    210: "productRef missing",
    211: "productRef not valid",
    220: "quantity missing",
    221: "quantity not valid",
    230: "vatRate missing",
    231: "vatRate not valid",
    240: "amountDutyFree missing",
    241: "amountDutyFree not valid",
    250: "amountTotal missing",
    251: "amountTotal not valid",
    310: "customer partnerId missing",
    311: "customer partnerId not valid",
    320: "customer email missing",
    321: "customer email not valid",
    330: "customer language missing",
    331: "customer language not valid",
    340: "ipV4 missing",
    341: "ipV4 not valid",
    410: "delivery location missing",
    420: "invoice location missing",
    430: "title missing",
    431: "title not valid",
    440: "lastName missing",
    441: "lastName not valid",
    450: "firstName missing",
    451: "firstName not valid",
    460: "address1 missing",
    461: "address1 not valid",
    480: "zipCode missing",
    481: "zipCode not valid",
    490: "city missing",
    491: "city not valid",
    500: "country missing",
    501: "country not valid",
    530: "phone missing",
    531: "phone not valid",
    540: "fax missing",
    541: "fax not valid",
    550: "province missing",
    551: "province not valid",
    600: "discount missing",
    610: "discount foreignRef missing",
    611: "discount foreignRef not valid",
    620: "discount label missing",
    621: "discount label not valid",
    630: "discount priceDelta missing",
    631: "discount priceDelta not valid",
    640: "discount operation missing",
    641: "discount operation not valid",
    650: "discount operationValue missing",
    651: "discount operationValue not valid",
    700: "payment missing",
    710: "paymentMethod missing",
    711: "paymentMethod not valid",
    720: "transactionId missing",
    721: "transactionId not valid",
    750: "metadata missing",
    751: "metadata key missing",
    1000: "Internal error",
    1010: "order already created",
    1011: "order already cancelled",
    1020: "product reference doesn't exist",
    1021: "currency doesn't exist",
    1022: "language doesn't exist",
    1023: "country doesn't exist",
    1030: "malformed document",
    1035: "affiliateId inactive or invalid",
    1041: "backup DVD not possible for this cart",
    1042: "option not eligible for every product of the order",
    1043: "option without a base product",
    1044: "out of stock",
    1046: "ipV4 or ipV6 required with payment",
    1048: "province required for US, CA, BR and AU",
    1049: "province not valid",
    1051: "licences currently not available",
    1053: "configuration requires unit price or total amount",
}

# Messages that differ per operation, where the contract fixes them.
OPERATION_MESSAGES: dict[str, dict[int, str]] = {
    "getOrderData": {100: "partnerOrderNumber missing", 1010: "order not found"},
    "getDownloadInfo": {100: "partnerOrderNumber missing", 1010: "order not found"},
    "cancelOrder": {
        100: "reasonCode missing",
        101: "reasonCode not valid",
        110: "partnerOrderNumber missing",
        1010: "order not found",
        1011: "order already cancelled",
        1020: "cancel period expired",
        1030: "unauthorized cancel",
    },
    "updateDownloadTime": {
        100: "partnerOrderNumber missing",
        110: "value missing",
        111: "value not valid",
        1010: "order not found",
        1011: "order already cancelled",
    },
    "getStockStatus": {
        100: "productRef missing",
        101: "productRef invalid",
        1010: "product doesn't exist",
    },
    "getSubscriptionStatus": {
        100: "partnerOrderNumber missing",
        110: "subscriptionId missing",
        111: "subscriptionId not valid",
        1010: "subscription not found for this order",
    },
    "cancelSubscription": {
        100: "partnerOrderNumber missing",
        110: "subscriptionId missing",
        111: "subscriptionId not valid",
        1010: "subscription not found for this order",
        1011: "subscription already cancelled or terminated",
    },
    "renewSubscription": {
        100: "partnerOrderNumber missing",
        110: "subscriptionId missing",
        111: "subscriptionId not valid",
        1010: "subscription not found for this order",
        1011: "subscription already cancelled or terminated",
        1044: "no stock to renew",
    },
    "addWebhook": {
        100: "url missing",
        101: "url not valid",
        110: "events missing",
        111: "events not valid",
        1060: "too many webhook endpoints",
    },
    "removeWebhook": {100: "id missing", 101: "id not valid", 1010: "webhook not found"},
    "listWebhookDeliveries": {
        100: "id missing",
        101: "id not valid",
        111: "limit not valid",
        121: "before not valid",
        1010: "webhook not found",
    },
    "redeliverWebhookEvent": {
        100: "id missing",
        101: "id not valid",
        110: "eventId missing",
        1010: "webhook not found",
        1011: "event not found for this webhook",
        1012: "webhook disabled",
    },
    "getTestClock": {1070: "test clocks are for sandbox catalogues: use your test_ secret"},
    "advanceTestClock": {
        100: "send advanceTo or advanceBy (one of them)",
        101: "advanceTo not valid: ISO 8601 with a UTC offset, e.g. 2027-12-01T09:00:00+00:00",
        111: "advanceBy not valid: a positive ISO 8601 duration, e.g. P1Y, P1M, P7D, PT12H",
        1070: "test clocks are for sandbox catalogues: use your test_ secret",
        1071: "a test clock does not go back",
    },
    "getCrossUpSell": {
        100: "productRef is missing",
        110: "Product ref is missing",
        111: "Product ref is invalid",
        120: "quantity is missing",
        121: "quantity is invalid",
        130: "Language is missing",
        131: "Language is invalid",
        1000: "Internal error",
        1010: "productRef not found",
    },
    # order history (SOAP customer getOrderHistory, order getAllOrders; resell.services.history)
    "getOrderHistory": {100: "partnerId missing", 1010: "partner not found"},
    "getAllOrders": {100: "email missing", 101: "email not valid", 1010: "customer not found"},
    # the product feed, GET /flow/getcatalog/v2.4/ (resell.services.feeds)
    "getCatalog": {
        100: "provider missing",
        110: "config missing",
        121: "diff not valid: YYYY-MM-DD or last",
        1010: "feed configuration not found",
    },
}


# Messages that carry a value of the call, so that the merchant reads what to send instead.
CURRENCY_NOT_THE_CATALOGUES = "currency doesn't exist in this catalogue: it sells in {currency}"


def message_for(code: int, operation: str | None = None) -> str:
    if operation is not None:
        specific = OPERATION_MESSAGES.get(operation, {}).get(code)
        if specific is not None:
            return specific
    return MESSAGES.get(code, "error")


class Refusal(Exception):
    """A business outcome that the contract's code tables cover: rendered as a reply, not an error."""

    def __init__(self, code: int, message: str | None = None):
        super().__init__(code, message)
        self.code = code
        self.message = message

    def message_in(self, operation: str | None) -> str:
        return self.message or message_for(self.code, operation)

