"""The legacy SOAP 1.1 API: static WSDLs and an lxml codec over the services."""
