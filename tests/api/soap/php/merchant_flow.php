<?php
// The whole merchant flow through PHP's own SoapClient, written as a merchant's shop would:
// SOAP_SINGLE_ELEMENT_ARRAYS on, replies read by the contract's wrapper and item names.
// Usage: php merchant_flow.php ORDER_WSDL_URL SECRET PARTNER_ORDER_NUMBER PRODUCT_REF
// Prints one JSON document with what the shop read at each step.

[$script, $wsdl, $secret, $pon, $ref] = $argv;
$ref = (int) $ref;
$client = new SoapClient($wsdl, [
    'features' => SOAP_SINGLE_ELEMENT_ARRAYS,
    'cache_wsdl' => WSDL_CACHE_NONE,
    'exceptions' => true,
]);
$seen = [];

$stock = $client->getStockStatus(['secret' => $secret, 'request' => ['productRef' => [$ref]]])->out;
$item = $stock->productStatus->getStockStatusproductStatusResponseType[0];
$seen['stock'] = ['code' => $stock->responseCode, 'productRef' => $item->productRef, 'status' => $item->status];

$cross = $client->getCrossUpSell(['secret' => $secret, 'request' => [
    'products' => ['getCrossUpSellProductType' => [['productRef' => $ref, 'quantity' => 1]]],
    'language' => 'EN',
]])->out;
$seen['crossUpSell'] = [
    'code' => $cross->responseCode,
    'products' => array_map(
        fn ($p) => ['ref' => $p->ref, 'type' => $p->type, 'name' => $p->name],
        $cross->productsReturn->getCrossUpSellProductReturnResponseType
    ),
];

$order = [
    'partnerOrderNumber' => $pon,
    'orderDate' => gmdate('Y-m-d\TH:i:s') . '+00:00',
    'currency' => 'EUR',
    'orderLines' => ['createOrderLinesType' => [['productRef' => $ref, 'quantity' => 1, 'vatRate' => 20]]],
    'customer' => [
        'partnerId' => 'php-customer',
        'email' => 'php.buyer@example.com',
        'language' => 'en_GB',
        'ipV4' => '192.0.2.44',
        'locationInvoice' => ['firstName' => 'Grace', 'lastName' => 'Hopper', 'city' => 'Arlington', 'country' => 'FR'],
    ],
    'payment' => ['paymentMethod' => 'External Payment', 'transactionId' => 'PHP-TX-1'],
    'metaData' => ['createMetaDataType' => [['key' => 'channel', 'value' => 'php']]],
];
$created = $client->create(['secret' => $secret, 'request' => $order])->out;
$line = $created->orderLines->createOrderLineResponseType[0];
$seen['create'] = [
    'code' => $created->responseCode,
    'message' => $created->responseMessage,
    'orderNumber' => $created->orderNumber,
    'productRef' => $line->productRef,
    'serial' => $line->lineItems->createLineItemResponseType[0]->serials->createSerialResponseType[0]->data,
    'fileLabels' => array_map(fn ($f) => $f->label, $line->files->createFileResponseType),
    'fileSizes' => array_map(fn ($f) => (string) $f->size, $line->files->createFileResponseType),
    'dateEndDownload' => $line->dateEndDownload,
    'remark' => $line->remark,
];

$again = $client->create(['secret' => $secret, 'request' => $order])->out;
$seen['createAgain'] = ['code' => $again->responseCode, 'orderLines' => $again->orderLines];

$data = $client->getData(['secret' => $secret, 'request' => ['partnerOrderNumber' => $pon]])->out;
$dataLine = $data->orderLines->getDataOrderLineResponseType[0];
$seen['getData'] = [
    'code' => $data->responseCode,
    'orderNumber' => $data->orderNumber,
    'serial' => $dataLine->lineItems->getDataLineItemResponseType[0]->serials->getDataSerialResponseType[0]->data,
];

$info = $client->getDownloadInfo(['secret' => $secret, 'request' => ['partnerOrderNumber' => $pon]])->out;
$infoFile = $info->orderLines->getDownloadInfoOrderLineDownloadResponseType[0]->files->getDownloadInfoFileDownloadResponseType[0];
$seen['getDownloadInfo'] = [
    'code' => $info->responseCode,
    'downloadEndDate' => $info->downloadEndDate,
    'url' => $infoFile->url,
    'countStartDownload' => $infoFile->countStartDownload,
];

$extended = $client->updateDownloadTime(['secret' => $secret, 'request' => ['partnerOrderNumber' => $pon, 'value' => 'P1M']])->out;
$seen['updateDownloadTime'] = ['code' => $extended->responseCode, 'newDownloadEndDate' => $extended->newDownloadEndDate];

$cancelled = $client->cancel(['secret' => $secret, 'request' => ['partnerOrderNumber' => $pon, 'reasonCode' => 3, 'comment' => 'from PHP']])->out;
$seen['cancel'] = ['code' => $cancelled->responseCode, 'partnerOrderNumber' => $cancelled->partnerOrderNumber, 'orderNumber' => $cancelled->orderNumber];

$twice = $client->cancel(['secret' => $secret, 'request' => ['partnerOrderNumber' => $pon, 'reasonCode' => 3]])->out;
$seen['cancelAgain'] = ['code' => $twice->responseCode, 'message' => $twice->responseMessage];

echo json_encode($seen, JSON_PRETTY_PRINT), "\n";
