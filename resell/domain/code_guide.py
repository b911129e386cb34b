"""What each /connect operation can answer, and what the merchant should do about each code.

The one table of it: the OpenAPI document writes each operation's table of codes from it
(api/rest/openapi.py), and the refusal schemas list exactly these codes, so a reply with a code missing
here fails tests/api/rest/test_openapi.py. The messages are not repeated here: they come from
domain/codes.py (`message_for`), where the contract's wording lives.
"""

from __future__ import annotations

from resell.domain import codes as c

# The advice most "missing" / "not valid" codes share: the request is refused before anything is done
# (a refused createOrder creates nothing, its partnerOrderNumber stays free: operation_docs says so once).
FIX = "Correct the field and send the request again: nothing was done."
FIX_ORDER = "Correct the field and send the order again."

# Every operation may answer these (1000 with HTTP 500; 70 and 71 come before any other check).
EVERY: dict[int, str] = {
    c.OK: "Done.",
    c.SECRET_MISSING: "Send the catalogue's secret in the `secret` header.",
    c.SECRET_NOT_VALID: "Use a secret of one of your own catalogues, as the operator issued it "
    "(a secret is per catalogue: one per sales territory and currency).",
    c.INTERNAL_ERROR: "A fault on our side (HTTP 500): retry later with the same request. createOrder is "
    "idempotent: if the retry answers 1010, the order exists: read it with getOrderData.",
}
# Operations that read a JSON body: a body that is not a JSON object (HTTP 400), or too large (HTTP 413).
BODY: dict[int, str] = {
    c.MALFORMED: "Send a JSON object (Content-Type: application/json) under the size limit.",
}

_ORDER_NUMBER = "Send the partnerOrderNumber of the order (your own order id)."
_ORDER_NOT_FOUND = (
    "No order of yours has this partnerOrderNumber (another merchant's orders are not found either): "
    "check the number; an order refused at creation does not exist."
)
_SUBSCRIPTION: dict[int, str] = {
    c.ORDER_NUMBER_MISSING: _ORDER_NUMBER,
    c.SUBSCRIPTION_ID_MISSING: "Send the subscriptionId that createOrder returned in the line item.",
    c.SUBSCRIPTION_ID_NOT_VALID: "Send the subscriptionId as a positive integer.",
    c.SUBSCRIPTION_NOT_FOUND: "This order has no such subscription: check both numbers against the "
    "createOrder reply (a renewal's order is `<partnerOrderNumber>-<generation>`, its subscription the first's).",
}

# operation -> code -> what to do; the operation's own codes, in addition to EVERY (and BODY if it has a body)
GUIDE: dict[str, dict[int, str]] = {
    "status": {},
    "getStockStatus": {
        c.STOCK_REFS_MISSING: "Send productRefs, a list of product references (for the whole call or for an "
        "item, whose own responseCode says which).",
        c.STOCK_REFS_NOT_VALID: "Send positive integers, and no more refs per call than the limit "
        "(RESELL_STOCK_MAX_REFS, docs/limits.md): split a long list.",
        c.PRODUCT_NOT_FOUND: "An item's code: the product is not in this catalogue. Remove it from your shop "
        "or check the reference against the product feed.",
    },
    "getCrossUpSell": {
        c.CART_MISSING: "Send products, the cart: a list of {productRef, quantity}.",
        c.CART_PRODUCT_REF_MISSING: "Give every cart item a productRef.",
        c.CART_PRODUCT_REF_NOT_VALID: "Send productRef as a positive integer.",
        c.CART_QUANTITY_MISSING: "Give every cart item a quantity.",
        c.CART_QUANTITY_NOT_VALID: "Send quantity as an integer of at least 1.",
        c.SUGGESTION_LANGUAGE_MISSING: 'Send language, one code or a list ("FR,EN,ES").',
        c.SUGGESTION_LANGUAGE_NOT_VALID: "Send ISO 639-1 language codes.",
        c.PRODUCT_NOT_FOUND: "A cart product is not in this catalogue: remove it from the cart.",
    },
    "createOrder": {
        c.ORDER_MISSING: "Send the order as a JSON object.",
        c.MALFORMED: "Send a JSON object (HTTP 400 otherwise); with HTTP 200, a field of the wrong type that has "
        "no code of its own (marketingProgramId, companyName): send it as a string. " + FIX_ORDER,
        c.CURRENCY_MISSING: FIX_ORDER,
        c.CURRENCY_NOT_VALID: "Send an ISO 4217 code (EUR, USD). " + FIX_ORDER,
        c.PARTNER_ORDER_NUMBER_MISSING: "Send your own order id as partnerOrderNumber (a string of at most 100 "
        "characters). " + FIX_ORDER,
        c.ORDER_DATE_MISSING: FIX_ORDER,
        c.ORDER_DATE_NOT_VALID: "Send orderDate as ISO 8601 with its UTC offset, e.g. 2026-11-30T14:03:00+01:00 "
        "(a date-time without offset is refused). " + FIX_ORDER,
        c.ORDER_LINES_MISSING: "Send at least one order line.",
        c.TOO_MANY_LINES: "Split the order: it has more lines or units than the limits allow (docs/limits.md).",
        c.PRODUCT_REF_MISSING: FIX_ORDER,
        c.PRODUCT_REF_NOT_VALID: FIX_ORDER,
        c.QUANTITY_MISSING: FIX_ORDER,
        c.QUANTITY_NOT_VALID: "Send an integer of at least 1, within the order's unit limit. " + FIX_ORDER,
        c.VAT_RATE_NOT_VALID: FIX_ORDER,
        c.AMOUNT_DUTY_FREE_NOT_VALID: FIX_ORDER,
        c.AMOUNT_TOTAL_NOT_VALID: FIX_ORDER,
        c.CUSTOMER_PARTNER_ID_NOT_VALID: FIX_ORDER,
        c.CUSTOMER_EMAIL_MISSING: "Send the end user's real email: the delivery goes there. " + FIX_ORDER,
        c.CUSTOMER_EMAIL_NOT_VALID: FIX_ORDER,
        c.CUSTOMER_LANGUAGE_NOT_VALID: "Send ll_CC, e.g. fr_FR, en_US, en_XE. " + FIX_ORDER,
        c.IP_NOT_VALID: FIX_ORDER,
        c.DELIVERY_LOCATION_MISSING: "A backup DVD ships to locationDelivery: send it. " + FIX_ORDER,
        c.INVOICE_LOCATION_MISSING: FIX_ORDER,
        c.TITLE_NOT_VALID: FIX_ORDER,
        c.LAST_NAME_NOT_VALID: FIX_ORDER,
        c.FIRST_NAME_NOT_VALID: FIX_ORDER,
        c.ADDRESS_NOT_VALID: FIX_ORDER,
        c.ZIP_CODE_NOT_VALID: FIX_ORDER,
        c.CITY_NOT_VALID: FIX_ORDER,
        c.COUNTRY_MISSING: FIX_ORDER,
        c.COUNTRY_NOT_VALID: "Send an ISO 3166-1 alpha-2 code (FR, US). " + FIX_ORDER,
        c.PHONE_NOT_VALID: FIX_ORDER,
        c.FAX_NOT_VALID: FIX_ORDER,
        c.PROVINCE_NOT_VALID: FIX_ORDER,
        c.DISCOUNTS_NOT_VALID: "Send discounts as a list of objects. " + FIX_ORDER,
        c.DISCOUNT_FOREIGN_REF_MISSING: FIX_ORDER,
        c.DISCOUNT_FOREIGN_REF_NOT_VALID: FIX_ORDER,
        c.DISCOUNT_LABEL_MISSING: FIX_ORDER,
        c.DISCOUNT_LABEL_NOT_VALID: FIX_ORDER,
        c.DISCOUNT_PRICE_DELTA_MISSING: FIX_ORDER,
        c.DISCOUNT_PRICE_DELTA_NOT_VALID: FIX_ORDER,
        c.DISCOUNT_OPERATION_MISSING: FIX_ORDER,
        c.DISCOUNT_OPERATION_NOT_VALID: "Send PERCENT or AMOUNT. " + FIX_ORDER,
        c.DISCOUNT_OPERATION_VALUE_MISSING: FIX_ORDER,
        c.DISCOUNT_OPERATION_VALUE_NOT_VALID: FIX_ORDER,
        c.PAYMENT_NOT_VALID: "Send payment as an object, or leave it out. " + FIX_ORDER,
        c.PAYMENT_METHOD_MISSING: 'Send paymentMethod, usually "External Payment". ' + FIX_ORDER,
        c.PAYMENT_METHOD_NOT_VALID: FIX_ORDER,
        c.TRANSACTION_ID_NOT_VALID: FIX_ORDER,
        c.METADATA_NOT_VALID: "Send metadata as a list of {key, value}. " + FIX_ORDER,
        c.METADATA_KEY_MISSING: FIX_ORDER,
        c.ORDER_ALREADY_CREATED: "This partnerOrderNumber was used before: the order exists (a retry after a "
        "lost reply lands here). Read it with getOrderData; never create it under another number.",
        c.PRODUCT_UNKNOWN: "A productRef is not in this catalogue: remove the line (the whole order was refused).",
        c.CURRENCY_UNKNOWN: "Send the catalogue's currency (the message names it); another currency is another "
        "catalogue, with its own secret.",
        c.LANGUAGE_UNKNOWN: FIX_ORDER,
        c.COUNTRY_UNKNOWN: FIX_ORDER,
        c.AFFILIATE_NOT_VALID: "Leave affiliateId out, or ask the operator which ones are active.",
        c.BACKUP_DVD_IMPOSSIBLE: "Order without the backup DVD option: not every product of this cart has one.",
        c.OPTION_NOT_ELIGIBLE: "Drop the option, or the products it does not apply to (getCrossUpSell tells which).",
        c.OPTION_WITHOUT_BASE: "Order the option together with its base product.",
        c.OUT_OF_STOCK: "A line is short of licences and the whole order was refused: check getStockStatus, "
        "retry later or without that line. Nothing was taken.",
        c.IP_REQUIRED: "With payment, send the customer's ipV4 or ipV6. " + FIX_ORDER,
        c.PROVINCE_REQUIRED: "For US, CA, BR and AU send the province (ISO 3166-2 subdivision). " + FIX_ORDER,
        c.PROVINCE_UNKNOWN: "Send one of the country's ISO 3166-2 subdivisions. " + FIX_ORDER,
        c.LICENCES_NOT_AVAILABLE: "The product cannot be delivered now (withdrawn, not yet released, or the "
        "publisher's key service failed): retry later; check the product feed's status.",
        c.AMOUNTS_REQUIRED: "Your configuration needs amountDutyFree or amountTotal on each line: send them.",
    },
    "getOrderData": {c.ORDER_NUMBER_MISSING: _ORDER_NUMBER, c.ORDER_NOT_FOUND: _ORDER_NOT_FOUND},
    "cancelOrder": {
        c.CANCEL_REASON_MISSING: "Send reasonCode (the message of 101 lists them).",
        c.CANCEL_REASON_NOT_VALID: "Send one of 2, 3, 4, 5, 6, 16 (the message lists what each means).",
        c.CANCEL_ORDER_NUMBER_MISSING: _ORDER_NUMBER,
        c.ORDER_NOT_FOUND: _ORDER_NOT_FOUND,
        c.ORDER_ALREADY_CANCELLED: "Nothing to do: the order was cancelled before (a retry lands here).",
        c.CANCEL_PERIOD_EXPIRED: "The cancel period of your catalogue is over: contact the operator.",
        c.MALFORMED: "The body is not a JSON object (HTTP 400): send one. (The contract also names 1030 "
        '"unauthorized cancel".)',
    },
    "getDownloadInfo": {c.ORDER_NUMBER_MISSING: _ORDER_NUMBER, c.ORDER_NOT_FOUND: _ORDER_NOT_FOUND},
    "updateDownloadTime": {
        c.ORDER_NUMBER_MISSING: _ORDER_NUMBER,
        c.DOWNLOAD_TIME_MISSING: "Send value: a date YYYY-MM-DD or an ISO 8601 period (P7D).",
        c.DOWNLOAD_TIME_NOT_VALID: "Send a date YYYY-MM-DD after today or a positive ISO 8601 period (P7D, P1Y5M2D).",
        c.ORDER_NOT_FOUND: _ORDER_NOT_FOUND,
        c.ORDER_ALREADY_CANCELLED: "A cancelled order's downloads stay stopped.",
    },
    "getSubscriptionStatus": {**_SUBSCRIPTION},
    "cancelSubscription": {
        **_SUBSCRIPTION,
        c.SUBSCRIPTION_ENDED: "Nothing to do: the subscription was cancelled or terminated before.",
    },
    "renewSubscription": {
        **_SUBSCRIPTION,
        c.SUBSCRIPTION_ENDED: "A cancelled or terminated subscription does not renew: place a new order.",
        c.OUT_OF_STOCK: "No licence to renew with now: retry later.",
        c.LICENCES_NOT_AVAILABLE: "The product cannot be delivered now: retry later.",
    },
    "getCategories": {
        c.MALFORMED: "Put a language code in the path: /catalog/categories/en.",
        c.LANGUAGE_UNKNOWN: "Use an ISO 639-1 language code in the path (en, fr, de).",
    },
    "getOperatingSystems": {},
    "addWebhook": {
        c.WEBHOOK_URL_MISSING: "Send url, where the events are to be POSTed.",
        c.WEBHOOK_URL_NOT_VALID: "Send an absolute https URL without credentials that leads to a public address.",
        c.WEBHOOK_EVENTS_MISSING: "Send events, a list of event types.",
        c.WEBHOOK_EVENTS_NOT_VALID: "Send event types from the list the message gives.",
        c.TOO_MANY_WEBHOOKS: "Remove an endpoint you no longer use (removeWebhook), then add this one.",
    },
    "listWebhooks": {},
    "getTestClock": {
        c.CLOCK_NOT_SANDBOX: "Send your sandbox catalogue's secret (it starts with `test_`): live catalogues "
        "have no test clock, their subscriptions live on real time.",
    },
    "advanceTestClock": {
        c.CLOCK_MOVE_MISSING: "Send advanceTo or advanceBy, one of them. " + FIX,
        c.CLOCK_ADVANCE_TO_NOT_VALID: "Send advanceTo as ISO 8601 with its UTC offset, e.g. "
        "2027-12-01T09:00:00+00:00. " + FIX,
        c.CLOCK_ADVANCE_BY_NOT_VALID: "Send advanceBy as a positive ISO 8601 duration: P1Y, P1M, P7D, PT12H. " + FIX,
        c.CLOCK_NOT_SANDBOX: "Send your sandbox catalogue's secret (it starts with `test_`): live catalogues "
        "have no test clock.",
        c.CLOCK_BACKWARDS: "A test clock only moves forward (the message says where it is): send a later "
        "advanceTo, or an advanceBy. Nothing was done.",
    },
    "removeWebhook": {
        c.WEBHOOK_ID_MISSING: "Send the endpoint id of listWebhooks.",
        c.WEBHOOK_ID_NOT_VALID: "Send the endpoint id of listWebhooks.",
        c.WEBHOOK_NOT_FOUND: "No endpoint of yours has this id (removed already?): list them with listWebhooks.",
    },
    "listWebhookDeliveries": {
        c.WEBHOOK_ID_MISSING: "Put the endpoint id of listWebhooks in the path.",
        c.WEBHOOK_ID_NOT_VALID: "Put the endpoint id of listWebhooks in the path.",
        c.DELIVERY_LIMIT_NOT_VALID: "Send limit as a whole number from 1 to 200, or leave it out (50).",
        c.DELIVERY_BEFORE_NOT_VALID: "Send before as the nextBefore of the previous page, or leave it out.",
        c.WEBHOOK_NOT_FOUND: "No endpoint of yours has this id (removed?): list them with listWebhooks.",
    },
    "redeliverWebhookEvent": {
        c.WEBHOOK_ID_MISSING: "Put the endpoint id of listWebhooks in the path.",
        c.WEBHOOK_ID_NOT_VALID: "Put the endpoint id of listWebhooks in the path.",
        c.WEBHOOK_EVENT_ID_MISSING: "Put an eventId of this endpoint's delivery log (listWebhookDeliveries) in "
        "the path.",
        c.WEBHOOK_NOT_FOUND: "No endpoint of yours has this id (removed?): list them with listWebhooks.",
        c.WEBHOOK_EVENT_NOT_FOUND: "Put an eventId of this endpoint's delivery log (listWebhookDeliveries) in the "
        "path: an event of yours, of a type the endpoint takes.",
        c.WEBHOOK_NOT_ACTIVE: "The endpoint is disabled and gets nothing: fix it, add it again (addWebhook), "
        "then redeliver to the new one.",
    },
}


def guide(operation: str, has_body: bool) -> dict[int, tuple[str, str]]:
    """Every code `operation` can answer, in numeric order: its message (domain/codes.py) and the advice."""
    table = EVERY | (BODY if has_body else {}) | GUIDE[operation]
    return {code: (c.message_for(code, operation), table[code]) for code in sorted(table)}


def refusal_codes(operation: str, has_body: bool) -> list[int]:
    """The codes a refusal of `operation` may carry (not 0)."""
    return [code for code in guide(operation, has_body) if code != c.OK]
