<?php
// One SOAP call through PHP's SoapClient (SOAP_SINGLE_ELEMENT_ARRAYS), for the tests.
// Usage: php call.php WSDL_URL OPERATION < arguments.json
// Prints the reply as JSON: {"reply": ...} or {"fault": {"code": ..., "string": ...}}.

[$script, $wsdl, $operation] = $argv;
$arguments = json_decode(stream_get_contents(STDIN), true);
$client = new SoapClient($wsdl, [
    'features' => SOAP_SINGLE_ELEMENT_ARRAYS,
    'cache_wsdl' => WSDL_CACHE_NONE,
    'exceptions' => true,
]);
try {
    $reply = $client->__soapCall($operation, [$arguments]);
    echo json_encode(['reply' => $reply]), "\n";
} catch (SoapFault $fault) {
    echo json_encode(['fault' => ['code' => $fault->faultcode, 'string' => $fault->faultstring]]), "\n";
}
