"""`make fuzz`: schemathesis against the served OpenAPI document, every /connect and /iam operation.

Steps: a fresh SQLite database in a temporary directory, migrated (`resell db upgrade`) and seeded
with the demo (`resell demo`); `resell serve` on a free port; a few orders, subscriptions and a
webhook made over HTTP so that fuzzed cases can name things that exist; then, for each operation of
GET /openapi.json under /connect and /iam, at least --max-examples generated cases (schemathesis
positive and negative generation, driven by Hypothesis), each sent to the server and held to:

  not_a_server_error, status_code_conformance, content_type_conformance,
  response_schema_conformance, response_headers_conformance

Most cases carry a valid bearer token and catalogue secret, so they get past authentication; some
keep the generated secret or drop the token, so the refusal paths (70, 71, 401) are fuzzed too;
some have a known partnerOrderNumber, subscriptionId, productRef or webhook id put in, so success
replies are checked as well as refusals. DELETE /iam/tokens/reset runs last, each case with a fresh
token of the second demo merchant (a reset revokes that merchant's refresh tokens).

Prints a table (cases, failures, successful replies per operation) and exits 1 on any failure, or on a traceback in
the server's log. Options: --max-examples N (default 1000), --only REGEX, --seed N, --keep.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.errors import InvalidSchema
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Err, Ok
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


def auth_mode(draw: int) -> str:
    """How a case authenticates, from a draw in 0..99: mostly with the real token and secret, sometimes not."""
    if draw < 75:
        return "valid"
    if draw < 85:
        return "generated-secret"  # the generated `secret` header is sent: 70 or 71
    return "no-token" if draw < 93 else "bad-token"  # 401


def log(message: str) -> None:
    print(f"[fuzz {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def resell(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([PY, "-m", "resell.cli", *args], env=env, check=True, text=True, capture_output=True)
    return done.stdout


def wait_up(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"resell serve exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


def stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


# ---------------------------------------------------------------- what exists on the server


@dataclass
class Known:
    """Credentials and things that exist, for cases to name now and then."""

    base: str
    realm: str
    client_secret: str
    secret: str
    token: str
    other_realm: str
    other_client_secret: str
    product_refs: list[int]
    orders: list[str] = field(default_factory=list)
    subscriptions: list[tuple[str, int]] = field(default_factory=list)
    webhooks: list[int] = field(default_factory=list)


def get_token(base: str, realm: str, client_secret: str) -> str:
    reply = httpx.post(
        f"{base}/iam/tokens",
        json={"realmName": realm, "clientSecret": client_secret, "grantType": "client_credentials"},
        timeout=30,
    )
    reply.raise_for_status()
    return str(reply.json()["access_token"])


def order_body(pon: str, ref: int, quantity: int = 1) -> dict[str, Any]:
    return {
        "partnerOrderNumber": pon,
        "orderDate": "2026-11-28T10:00:00+00:00",
        "currency": "EUR",
        "orderLines": [{"productRef": ref, "quantity": quantity}],
        "customer": {
            "partnerId": "fuzz",
            "email": "fuzz@example.com",
            "language": "en_US",
            "locationInvoice": {"firstName": "Ada", "lastName": "Lovelace", "country": "FR", "city": "Paris"},
            "ipV4": "192.0.2.10",
        },
        "payment": {"paymentMethod": "External Payment", "transactionId": "T-1"},
    }


def seed_known(base: str, credentials: dict[str, Any]) -> Known:
    first, second = credentials["merchants"][0], credentials["merchants"][1]
    catalog = first["catalogs"][0]
    token = get_token(base, first["realmName"], first["clientSecret"])
    known = Known(
        base=base,
        realm=first["realmName"],
        client_secret=first["clientSecret"],
        secret=catalog["secret"],
        token=token,
        other_realm=second["realmName"],
        other_client_secret=second["clientSecret"],
        product_refs=list(catalog["productRefs"]),
    )
    headers = {"Authorization": f"Bearer {token}", "secret": known.secret}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
        for i, ref in enumerate(known.product_refs * 2):
            pon = f"FUZZ-{i}"
            reply = http.post("/connect/order/new", json=order_body(pon, ref, 1 + i % 2))
            if reply.status_code != 201:
                continue
            known.orders.append(pon)
            for line in reply.json()["orderLines"]:
                for item in line["lineItems"]:
                    if item["subscriptionId"] is not None:
                        known.subscriptions.append((pon, item["subscriptionId"]))
        for i in range(5):
            reply = http.post(
                "/connect/webhooks", json={"url": f"https://shop.example/hooks/{i}", "events": ["order.created"]}
            )
            if reply.status_code == 201:
                known.webhooks.append(reply.json()["id"])
    if not known.orders:
        raise SystemExit("could not create any order to fuzz with")
    return known


# ---------------------------------------------------------------- one operation


@dataclass
class Result:
    label: str
    cases: int = 0
    succeeded: int = 0  # replies with responseCode 0 (or code 0, 201, 204, tokens): the success schemas were checked
    failures: dict[str, str] = field(default_factory=dict)  # a failure's title and response -> one example
    statuses: collections.Counter = field(default_factory=collections.Counter)

    def fail(self, key: str, detail: str) -> None:
        self.failures.setdefault(key, detail)


def _inject(case: Any, known: Known, rnd: random.Random) -> None:
    """Put things that exist into the generated case, where it has a place for them."""
    pon, sub_id = (
        rnd.choice(known.subscriptions)
        if known.subscriptions and rnd.random() < 0.5
        else (rnd.choice(known.orders), None)
    )
    if isinstance(case.path_parameters, dict):
        if "partnerOrderNumber" in case.path_parameters:
            case.path_parameters["partnerOrderNumber"] = pon
        if "endpoint_id" in case.path_parameters and known.webhooks:
            case.path_parameters["endpoint_id"] = str(rnd.choice(known.webhooks))
        if "language" in case.path_parameters:
            case.path_parameters["language"] = rnd.choice(["en", "fr", "EN", "de"])
    body = case.body
    if not isinstance(body, dict):
        return
    if "orderLines" in body and rnd.random() < 0.4:  # a whole valid order, so that 201 replies are checked too
        body.clear()
        body.update(order_body(f"FUZZ-NEW-{rnd.randrange(10**9)}", rnd.choice(known.product_refs), rnd.randint(1, 3)))
        return
    if "partnerOrderNumber" in body:
        body["partnerOrderNumber"] = f"FUZZ-NEW-{rnd.randrange(10**9)}" if "orderLines" in body else pon
    if "subscriptionId" in body and sub_id is not None:
        body["subscriptionId"] = sub_id
    if "productRefs" in body and isinstance(body["productRefs"], list):
        body["productRefs"] = body["productRefs"] + [rnd.choice(known.product_refs)]
    lines = body.get("orderLines") if "orderLines" in body else body.get("products")
    for line in lines if isinstance(lines, list) else []:
        if isinstance(line, dict) and "productRef" in line:
            line["productRef"] = rnd.choice(known.product_refs)
    if "url" in body and "events" in body and rnd.random() < 0.5:
        body["url"], body["events"] = f"https://shop.example/hooks/{rnd.randrange(1000)}", ["order.created"]
    if "clientSecret" in body and "realmName" in body:
        body["realmName"], body["clientSecret"] = known.realm, known.client_secret
        if rnd.random() < 0.5:
            body["grantType"] = "client_credentials"


def _succeeded(response: Any) -> bool:
    if response.status_code in (201, 204):
        return True
    if response.status_code != 200:
        return False
    try:
        data = response.json()
    except ValueError:
        return False
    return isinstance(data, dict) and (data.get("responseCode", data.get("code")) == 0 or "access_token" in data)


def fuzz_operation(operation: Any, known: Known, max_examples: int, run_seed: int) -> Result:
    result = Result(operation.label)
    session = requests.Session()
    is_reset = operation.path == "/iam/tokens/reset"
    strategies = [operation.as_strategy(generation_mode=schemathesis.GenerationMode.POSITIVE)]
    try:
        strategies.append(operation.as_strategy(generation_mode=schemathesis.GenerationMode.NEGATIVE))
    except Exception as exc:  # an operation with nothing to make invalid
        log(f"{operation.label}: no negative generation ({type(exc).__name__})")
    rnd = random.Random(run_seed)

    @given(case=st.one_of(strategies), auth_draw=st.integers(0, 99), inject=st.booleans())
    @settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    def test(case: Any, auth_draw: int, inject: bool) -> None:
        result.cases += 1
        auth = auth_mode(auth_draw)
        if inject:
            _inject(case, known, rnd)  # best effort: a generated case of another shape is sent as it is
        headers: dict[str, str] = {}
        if auth != "generated-secret" and operation.path.startswith("/connect"):
            headers["secret"] = known.secret
        if auth in ("valid", "generated-secret"):
            token = get_token(known.base, known.other_realm, known.other_client_secret) if is_reset else known.token
            headers["Authorization"] = f"Bearer {token}"
        elif auth == "bad-token":
            headers["Authorization"] = "Bearer not-a-jwt"
        elif case.headers:
            case.headers.pop("Authorization", None)
        try:
            response = case.call(base_url=known.base, session=session, headers=headers, timeout=60)
        except Exception as exc:  # the request could not be sent or answered
            result.fail(f"transport: {type(exc).__name__}", f"{exc}")
            return
        result.statuses[response.status_code] += 1
        result.succeeded += _succeeded(response)
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as group:
            curl = case.as_curl_command(headers=headers)
            for failure in group.exceptions:
                key = f"{failure.title} [{response.status_code}]"
                result.fail(key, f"{failure.message}\n  reply: {response.text[:500]}\n  {curl[:1500]}")

    for attempt in range(5):  # Hypothesis stops early on a small input space: run again with another seed
        if result.cases >= max_examples:
            break
        seed(run_seed + attempt)(test)()
    session.close()
    return result


# ---------------------------------------------------------------- the run


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-examples", type=int, default=1000, help="cases per operation at least (1000)")
    parser.add_argument("--only", default="", help="fuzz only the operations whose 'METHOD /path' matches")
    parser.add_argument("--seed", type=int, default=None, help="Hypothesis seed (default: random)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (database, server log)")
    return parser.parse_args(argv)


def _operation(found: Ok[APIOperation] | Err[InvalidSchema]) -> APIOperation:
    """An operation of the served document; one schemathesis cannot read stops the run with its own error."""
    if isinstance(found, Err):
        raise found.err()
    return found.ok()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    run_seed = args.seed if args.seed is not None else random.randrange(2**31)
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="resell-fuzz-"))
    port = free_port()
    env = {
        **os.environ,
        "RESELL_VAR_DIR": str(workdir / "var"),
        "RESELL_DATABASE_URL": f"sqlite:///{workdir / 'fuzz.db'}",
        "RESELL_HOST": "127.0.0.1",
        "RESELL_PORT": str(port),
        "RESELL_WORKERS": "1",
        "RESELL_ACCESS_TOKEN_TTL_SECONDS": "86400",  # one token lasts the whole run
        "RESELL_IAM_RATE_LIMIT_IP": "",  # the run signs in thousands of times from one address
        "RESELL_SIGN_IN_BACKOFF_AFTER": "0",  # and fails on purpose (bad refresh tokens) on the demo realm
        "RESELL_LOG_LEVEL": "WARNING",
        "RESELL_LOG_JSON": "true",
        # webhook URLs are not looked up in DNS (a fuzzed host must not make the run ask the outside world)
        "RESELL_WEBHOOK_ALLOW_PRIVATE": "true",
    }
    log(f"workdir {workdir}, seed {run_seed}")
    resell(env, "db", "upgrade")
    resell(env, "demo")
    credentials = json.loads((workdir / "var" / "demo-credentials.json").read_text())
    base = f"http://127.0.0.1:{port}"
    server_log = workdir / "server.log"
    proc = subprocess.Popen(
        [PY, "-m", "resell.cli", "serve"],
        env=env,
        stdout=server_log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    results: list[Result] = []
    try:
        wait_up(f"{base}/healthz", proc)
        known = seed_known(base, credentials)
        log(
            f"seeded {len(known.orders)} orders, {len(known.subscriptions)} subscriptions, "
            f"{len(known.webhooks)} webhooks"
        )
        schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
        operations = [
            op for op in map(_operation, schema.get_all_operations()) if op.path.startswith(("/connect", "/iam"))
        ]
        operations.sort(key=lambda op: (op.path == "/iam/tokens/reset", op.path.startswith("/iam"), op.path))
        if args.only:
            operations = [op for op in operations if re.search(args.only, op.label)]
        log(f"{len(operations)} operations, at least {args.max_examples} cases each")
        for op in operations:
            t0 = time.monotonic()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    res = fuzz_operation(op, known, args.max_examples, run_seed)
                except Exception as exc:  # a bug of this runner: reported, and the other operations still run
                    res = Result(op.label)
                    res.fail("runner error", "".join(traceback.format_exception(exc))[-3000:])
            results.append(res)
            statuses = ", ".join(f"{k}: {v}" for k, v in sorted(res.statuses.items()))
            log(
                f"{op.label}: {res.cases} cases, {len(res.failures)} failures, {time.monotonic() - t0:.0f} s "
                f"({statuses})"
            )
    finally:
        stop(proc)
    tracebacks = [
        line
        for line in server_log.read_text(errors="replace").splitlines()
        if "Traceback" in line or '"internal_error"' in line
    ]
    return report(results, tracebacks, args, time.monotonic() - started, workdir)


def report(
    results: list[Result], tracebacks: list[str], args: argparse.Namespace, seconds: float, workdir: Path
) -> int:
    width = max([len(r.label) for r in results] + [9])
    print(f"\n| {'operation':<{width}} | {'cases':>6} | {'failures':>8} | {'ok':>5} | statuses")
    print(f"| {'-' * width} | {'-' * 5}: | {'-' * 7}: | {'-' * 4}: | ---")
    for r in results:
        statuses = " ".join(f"{k}x{v}" for k, v in sorted(r.statuses.items()))
        print(f"| {r.label:<{width}} | {r.cases:>6} | {len(r.failures):>8} | {r.succeeded:>5} | {statuses}")
    total_cases = sum(r.cases for r in results)
    total_failures = sum(len(r.failures) for r in results)
    total_ok = sum(r.succeeded for r in results)
    print(f"| {'total':<{width}} | {total_cases:>6} | {total_failures:>8} | {total_ok:>5} |")
    print(f"\n{len(results)} operations, {total_cases} cases, {total_failures} distinct failures, {seconds:.0f} s")
    short = [r for r in results if r.cases < args.max_examples]
    for r in results:
        for key, detail in r.failures.items():
            print(f"\nFAILURE {r.label}: {key}\n  {detail}")
    if short:
        print("\nfewer cases than asked: " + ", ".join(r.label for r in short))
    if tracebacks:
        print(f"\n{len(tracebacks)} errors in the server log ({workdir / 'server.log'}):")
        for line in tracebacks[:10]:
            print("  " + line[:1000])
    failed = bool(total_failures or short or tracebacks or not results)
    if not failed and not args.keep:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    elif failed:
        print(f"\nkept {workdir}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
