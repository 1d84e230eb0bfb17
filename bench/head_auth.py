"""What authorization costs a warm blob HEAD: requests per second with token auth against the same registry
open, ours and the Go registry's, on the same filesystem root, in the same run (interleaved rounds).

Four servers (``registry serve all`` and Go's ``docker-registry``, each open and with ``auth.token``) share one
root holding one blob. The token is an ES256 JWT with an ``x5c`` header, from a key whose self-signed certificate
is the ``rootcertbundle``, granting ``pull`` on the repository: what a token server hands ``docker pull``. oha
sends the same token on every request, as clients do until it expires, so ours verifies it once and then finds it
in its cache (by signature); Go verifies the signature on every request. A fifth row, ours with htpasswd (bcrypt
cost 10, successful checks remembered), shows Basic authentication's cost::

    .venv/bin/python -m bench.head_auth [--requests 20000] [--connections 32] [--rounds 3]
"""

from __future__ import annotations

import argparse
import base64
import statistics
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt
import yaml

from bench.head_cache import NAME, head, push_blob
from registry_core.auth.jwt import sign
from registry_core.testing.configs import filesystem_config
from registry_core.testing.servers import Process, free_port, start_go_registry, start_registry, stop
from registry_core.testing.token_files import Signer, certify, token_claims

ISSUER, SERVICE, USER, PASSWORD = "bench-issuer", "bench-registry", "bench", "bench-password"


@dataclass(frozen=True)
class Contender:
    name: str
    process: Process
    headers: tuple[str, ...] = ()


def pull_token(signer: Signer, lifetime: float) -> str:
    access = [{"type": "repository", "name": NAME, "actions": ["pull"]}]
    claims = token_claims(access, issuer=ISSUER, audience=SERVICE, subject=USER, lifetime=lifetime)
    return sign(claims, signer.key, x5c=[signer.cert])


def write_config(directory: Path, root: Path, name: str, auth: dict[str, Any] | None) -> Path:
    text = filesystem_config(root, log_level="warn", http={"addr": f"127.0.0.1:{free_port()}"})
    if auth is not None:
        text += yaml.safe_dump({"auth": auth}, sort_keys=False)
    path = directory / f"{name}.yml"
    path.write_text(text)
    return path


def start(directory: Path, lifetime: float) -> list[Contender]:
    root = directory / "root"
    signer = certify("bench token signer", ca=True)
    bundle = signer.write(directory, "token-root").cert
    token_auth = {
        "token": {
            "realm": "http://127.0.0.1:1/token",
            "service": SERVICE,
            "issuer": ISSUER,
            "rootcertbundle": str(bundle),
        }
    }
    htpasswd = directory / "htpasswd"
    htpasswd.write_text(f"{USER}:{bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(10)).decode()}\n")
    basic_auth = {
        "htpasswd": {"realm": "bench", "path": str(htpasswd)},
        "access": [{"repository": NAME, "users": [USER], "actions": ["pull"]}],
    }
    bearer = (f"Authorization: Bearer {pull_token(signer, lifetime)}",)
    basic = (f"Authorization: Basic {base64.b64encode(f'{USER}:{PASSWORD}'.encode()).decode()}",)
    open_config = write_config(directory, root, "open", None)
    token_config = write_config(directory, root, "token", token_auth)
    contenders = [
        Contender("ours, open", start_registry("all", open_config, directory)),
        Contender("ours, token", start_registry("all", token_config, directory), bearer),
        Contender(
            "ours, htpasswd",
            start_registry("all", write_config(directory, root, "basic", basic_auth), directory),
            basic,
        ),
    ]
    try:
        contenders += [
            Contender("go 2.8, open", start_go_registry(open_config, directory)),
            Contender("go 2.8, token", start_go_registry(token_config, directory), bearer),
        ]
    except RuntimeError as exc:  # the Go registry is not installed: ours alone
        print(f"(no Go rows: {exc})")
    return contenders


def measure(contenders: Sequence[Contender], digest: str, args: argparse.Namespace) -> dict[str, list[float]]:
    rates: dict[str, list[float]] = {c.name: [] for c in contenders}
    for c in contenders:  # warm every cache (descriptors, verified tokens, remembered passwords)
        head(f"{c.process.url}/v2/{NAME}/blobs/{digest}", 500, args.connections, args.timeout, c.headers)
    for round_ in range(args.rounds):
        order = contenders if round_ % 2 == 0 else list(reversed(contenders))
        for c in order:
            report = head(
                f"{c.process.url}/v2/{NAME}/blobs/{digest}", args.requests, args.connections, args.timeout, c.headers
            )
            rates[c.name].append(report["summary"]["requestsPerSec"])
    return rates


def print_table(rates: dict[str, list[float]], args: argparse.Namespace) -> None:
    print(
        f"\nHEAD /v2/{NAME}/blobs/<digest>, warm cache, {args.requests} requests x {args.rounds} rounds (interleaved),"
    )
    print(f"{args.connections} keep-alive connections, oha on loopback\n")
    print("| server | req/s: median (min-max) | vs. the same server open |")
    print("|---|---:|---:|")
    for name, values in rates.items():
        base = rates.get(name.split(",")[0] + ", open")
        ratio = statistics.median(values) / statistics.median(base) if base else float("nan")
        print(f"| {name} | {statistics.median(values):,.0f} ({min(values):,.0f}-{max(values):,.0f}) | {ratio:.2f} |")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--requests", type=int, default=20_000, help="HEAD requests per server and round")
    p.add_argument("--connections", type=int, default=32, help="concurrent keep-alive connections")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (A B C, C B A, ...)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds one oha run may take")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="head-auth-") as directory:
        contenders = start(Path(directory), lifetime=3600)
        try:
            digest = push_blob(contenders[0].process)
            rates = measure(contenders, digest, args)
        finally:
            for c in contenders:
                stop(c.process.proc)
    print_table(rates, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
