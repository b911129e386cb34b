<?php
// createOrder as PHP shops write it: request classes whose optional properties stay unset.
// PHP's SoapClient sends an unset structure given as '' as an empty element (<payment/>), and an
// object whose properties are unset as elements that are all xsi:nil. Both orders must be created.
// Usage: php unset_properties.php ORDER_WSDL_URL SECRET PARTNER_ORDER_NUMBER_PREFIX PRODUCT_REF
// Prints {"orders": [{"code", "message", "orderNumber", "sent"}, ...]}, "sent" being the request XML.

[$script, $wsdl, $secret, $prefix, $ref] = $argv;

class Location {
    public $companyName; public $title; public $lastName; public $firstName; public $address1;
    public $address2; public $zipCode; public $city; public $province; public $country; public $phone; public $fax;
}
class Payment { public $paymentMethod; public $transactionId; }
class OrderLine {
    public $productRef; public $quantity; public $vatRate; public $amountDutyFree; public $amountTotal;
    public $discounts = ''; public $endUserEmail = '';
}
class Customer {
    public $partnerId = ''; public $email; public $language = ''; public $locationInvoice;
    public $locationDelivery = ''; public $ipV4 = ''; public $ipV6 = '';
}
class CreateRequest {
    public $partnerOrderNumber; public $orderDate; public $currency; public $marketingProgramId = '';
    public $affiliateId; public $orderLines; public $customer; public $payment = ''; public $discounts = '';
    public $metaData = '';
}

function order(string $pon, int $ref): CreateRequest {
    $line = new OrderLine();
    $line->productRef = $ref;
    $line->quantity = 1;
    $invoice = new Location();
    $invoice->firstName = 'Grace';
    $invoice->country = 'FR';
    $customer = new Customer();
    $customer->email = 'php.unset@example.com';
    $customer->locationInvoice = $invoice;
    $request = new CreateRequest();
    $request->partnerOrderNumber = $pon;
    $request->orderDate = gmdate('Y-m-d\TH:i:s') . '+00:00';
    $request->currency = 'EUR';
    $request->orderLines = ['createOrderLinesType' => [$line]];
    $request->customer = $customer;
    return $request;
}

$client = new SoapClient($wsdl, [
    'features' => SOAP_SINGLE_ELEMENT_ARRAYS,
    'cache_wsdl' => WSDL_CACHE_NONE,
    'exceptions' => true,
    'trace' => 1,
]);

$emptyElements = order("$prefix-EMPTY", (int) $ref);  // every unset structure as an empty element
$unsetObjects = order("$prefix-NIL", (int) $ref);     // structures as objects whose properties are unset
$unsetObjects->customer->locationDelivery = new Location();
$unsetObjects->payment = new Payment();

$seen = [];
foreach ([$emptyElements, $unsetObjects] as $request) {
    $out = $client->create(['secret' => $secret, 'request' => $request])->out;
    $seen[] = [
        'code' => $out->responseCode,
        'message' => $out->responseMessage,
        'orderNumber' => $out->orderNumber,
        'sent' => $client->__getLastRequest(),
    ];
}
echo json_encode(['orders' => $seen]), "\n";
