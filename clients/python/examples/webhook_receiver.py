"""A webhook receiver: registers itself with resell, then prints each event whose signature verifies.

    RESELL_WEBHOOK_ALLOW_PRIVATE=true make run            # resell may then call this machine
    RESELL_WEBHOOK_ALLOW_PRIVATE=true .venv/bin/resell worker   # delivers the webhooks
    .venv/bin/python clients/python/examples/webhook_receiver.py --port 8081
    .venv/bin/python clients/python/examples/checkout.py   # an order: order.created arrives

With RESELL_WEBHOOK_SECRET set it registers nothing and checks with that secret (an endpoint made
before). Credentials as in checkout.py (the demo's sandbox by default: its events carry "test": true).
Ctrl-C (or --max-events N) removes the endpoint it made.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

from resell_client import Client
from resell_client.webhooks import WebhookVerificationError, verify

EVENTS = ["order.created", "order.cancelled", "download.extended", "subscription.renewed"]


def connect() -> Client:
    """A client for the merchant of the environment, else for the demo merchant of `make run`."""
    if os.environ.get("RESELL_REALM"):
        return Client(
            base_url=os.environ.get("RESELL_BASE_URL", "http://127.0.0.1:8000"),
            realm_name=os.environ["RESELL_REALM"],
            client_secret=os.environ["RESELL_CLIENT_SECRET"],
            secret=os.environ["RESELL_SECRET"],
        )
    demo = json.loads(Path(os.environ.get("RESELL_DEMO_CREDENTIALS", "var/demo-credentials.json")).read_text())
    merchant = demo["merchants"][0]
    catalog = merchant["catalogs"][0]
    return Client(
        base_url=demo["baseUrl"],
        realm_name=merchant["realmName"],
        client_secret=merchant["clientSecret"],
        # its first catalogue's (EUR) sandbox: test orders, TEST- serials, no real stock taken
        secret=catalog.get("sandboxSecret") or catalog["secret"],
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--max-events", type=int, default=0, help="stop after this many verified events")
    args = parser.parse_args()

    server = HTTPServer((args.host, args.port), BaseHTTPRequestHandler)  # one request at a time
    url = f"http://{args.host}:{server.server_address[1]}/hooks"
    client = connect()
    secret = os.environ.get("RESELL_WEBHOOK_SECRET", "")
    endpoint_id = None
    if not secret:
        made = client.create_webhook(url, EVENTS)
        secret, endpoint_id = made.signing_secret, made.id
        print(f"registered webhook {made.id} at {url}", flush=True)
    seen: set[str] = set()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            try:
                event = verify(body, dict(self.headers.items()), secret)
            except WebhookVerificationError as exc:
                print(f"refused: {exc}", flush=True)
                self.send_response(400)
            else:
                if event.id not in seen:  # delivery is at least once: the same id may come again
                    seen.add(event.id)
                    print(f"{event.type} {event.id} {json.dumps(event.data, sort_keys=True)}", flush=True)
                self.send_response(204)
            self.send_header("content-length", "0")
            self.end_headers()

    server.RequestHandlerClass = Handler
    try:
        while not args.max_events or len(seen) < args.max_events:
            server.handle_request()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        if endpoint_id is not None:
            client.delete_webhook(endpoint_id)
            print(f"removed webhook {endpoint_id}", flush=True)
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
