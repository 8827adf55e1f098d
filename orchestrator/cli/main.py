"""`aura ...`: argument parsing and dispatch."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Any

import grpc

from orchestrator.cli import certs_command, doctor, events_commands, processes, token_command
from orchestrator.cli import client_commands as client
from orchestrator.cli.analytics_view import parse_window
from orchestrator.config import Settings, SettingsError, settings_table, unknown_variables
from orchestrator.envvars import STORE_URL, redact_url
from orchestrator.telemetry import configure_logging

Command = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aura", description="Aura Orchestrator: workflows of gRPC calls."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="start the five mock services and the orchestrator until Ctrl-C")
    up.add_argument(
        "--store",
        metavar="URL",
        help="a postgresql:// store shared by the replicas (default: AURA_STORE_URL, or SQLite)",
    )
    up.add_argument(
        "--replicas",
        type=int,
        default=1,
        metavar="N",
        help="orchestrator processes on ports AURA_PORT, +1, ... (more than 1 needs --store)",
    )
    sub.add_parser(
        "demo", help="start everything, run complete_style_analysis with live progress, stop"
    )
    serve = sub.add_parser(
        "serve", help="start the orchestrator only (services from AURA_SERVICE_*_ADDRESSES)"
    )
    serve.add_argument(
        "--console",
        action="store_true",
        help="also serve the web console and HTTP API on AURA_CONSOLE_ADDRESS",
    )
    mesh = sub.add_parser("mesh", help="start the five mock services until Ctrl-C")
    mesh.add_argument(
        "mesh_args", nargs=argparse.REMAINDER, help="passed to `python -m mock_services`"
    )
    config = sub.add_parser("config", help="print the effective settings (AURA_*) as JSON")
    config.add_argument(
        "--markdown", action="store_true", help="the settings table of the README instead"
    )
    check = sub.add_parser(
        "health", help="exit 0 when a server's grpc.health.v1 Check says SERVING"
    )
    check.add_argument(
        "--address",
        help="default: 127.0.0.1:AURA_HEALTH_PORT (plaintext) when that is set, else AURA_ADDRESS",
    )
    check.add_argument("--service", default="", help='"" = liveness, a service name = readiness')
    check.add_argument("--timeout", type=float, default=2.0)

    def with_address(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument(
            "--address",
            default=client.DEFAULT_ADDRESS,
            help="orchestrator host:port (AURA_ADDRESS)",
        )
        return p

    run = with_address(sub.add_parser("run", help="start a run and show its live progress"))
    run.add_argument("definition", help="definition id or workflowDefinitions/{id}")
    run.add_argument("--input", default="{}", help="run input as a JSON object, or @file.json")
    run.add_argument("--label", action="append", default=[], help="KEY=VALUE, repeatable")
    run.add_argument("--request-id", default="", help="idempotency key")
    run.add_argument("--timeout", type=float, default=None, help="run deadline in seconds")
    run.add_argument(
        "--priority", type=int, default=0, help="queue priority, -100..100 (higher first)"
    )
    run.add_argument("--json", action="store_true", help="print the whole finished run as JSON")

    watch = with_address(sub.add_parser("watch", help="follow a run's events until it finishes"))
    watch.add_argument("run")
    watch.add_argument("--after-seq", type=int, default=0)

    get = with_address(sub.add_parser("get", help="print a run with its outputs as JSON"))
    get.add_argument("run")

    listing = with_address(sub.add_parser("list", help="list runs, newest first"))
    listing.add_argument(
        "--filter", default="", help="e.g. 'state = SUCCEEDED AND labels.team = \"ml\"'"
    )
    listing.add_argument("--page-size", type=int, default=20)
    listing.add_argument("--page-token", default="")
    listing.add_argument("--json", action="store_true", help="the ListWorkflowRuns answer")

    cancel = with_address(sub.add_parser("cancel", help="cancel a run"))
    cancel.add_argument("run")
    cancel.add_argument("--reason", default="cancelled from the command line")

    delete = with_address(sub.add_parser("delete", help="delete a finished run and its history"))
    delete.add_argument("run")

    definitions = with_address(sub.add_parser("definitions", help="list definitions, or show one"))
    definitions.add_argument("name", nargs="?", default="")

    services = with_address(
        sub.add_parser("services", help="backend services with health and call statistics")
    )
    services.add_argument("--json", action="store_true", help="the ListServices answer")
    analytics = with_address(
        sub.add_parser(
            "analytics",
            help="success rates, latency percentiles and optimization advice, from the store",
        )
    )
    analytics.add_argument("--definition", default="")
    analytics.add_argument(
        "--window",
        type=parse_window,
        default=0.0,
        help="only runs created within this long before now: 90s, 15m, 1h, 7d",
    )
    analytics.add_argument("--window-s", type=float, default=0.0, help="the same in seconds")
    analytics.add_argument("--json", action="store_true", help="the GetAnalytics answer")
    check_all = with_address(
        sub.add_parser(
            "doctor",
            help="check orchestrator, backends, store and a smoke run; exit 0 if all pass",
        )
    )
    check_all.add_argument("--timeout", type=float, default=10.0, help="per check, in seconds")
    check_all.add_argument("--json", action="store_true", help="the verdicts as JSON")
    events_commands.add_parser(sub, client.DEFAULT_ADDRESS)
    certs_command.add_parser(sub)
    token_command.add_parser(sub)
    return parser


CLIENT_COMMANDS: dict[str, Command] = {
    "run": client.cmd_run,
    "watch": client.cmd_watch,
    "get": client.cmd_get,
    "list": client.cmd_list,
    "cancel": client.cmd_cancel,
    "delete": client.cmd_delete,
    "definitions": client.cmd_definitions,
    "services": client.cmd_services,
    "analytics": client.cmd_analytics,
    "doctor": doctor.cmd_doctor,
    "events": events_commands.cmd_events,
}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print("aura: bad settings in the environment:", file=sys.stderr)
        for problem in error.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    telemetry = settings.telemetry
    configure_logging(telemetry)
    for warning in unknown_variables():
        logging.getLogger("aura.config").warning("%s", warning)
    if args.command == "mesh":
        # The mocks are a separate program: run it in this process's place (signals and
        # exit status are its own), never imported by the product.
        sys.stdout.flush()
        os.execv(sys.executable, [sys.executable, "-m", "mock_services", *args.mesh_args])
    if args.command == "certs":
        return certs_command.cmd_certs(args)
    if args.command == "token":
        return token_command.cmd_token(args)
    if args.command == "config":
        text = (
            settings_table() if args.markdown else json.dumps(settings.describe(), indent=2) + "\n"
        )
        sys.stdout.write(text)
        return 0
    try:
        if args.command == "health":
            health_port = settings.health_port if args.address is None else None
            address = args.address or client.DEFAULT_ADDRESS
            if health_port is not None:
                address = f"127.0.0.1:{health_port}"
            return asyncio.run(
                processes.check_health(
                    address, args.service, args.timeout, plaintext=health_port is not None
                )
            )
        if args.command == "up":
            if args.store is not None:
                chosen = with_store_url(settings, args.store)
                if chosen is None:
                    return 2
                settings = chosen
            return asyncio.run(processes.up(settings, telemetry, replicas=args.replicas))
        if args.command == "demo":
            return asyncio.run(processes.demo(settings, telemetry))
        if args.command == "serve":
            return asyncio.run(processes.serve(settings, telemetry, console=args.console))
        return asyncio.run(CLIENT_COMMANDS[args.command](args))
    except grpc.aio.AioRpcError as error:
        print(client.describe_rpc_error(error, getattr(args, "address", "")), file=sys.stderr)
        return 1
    except (client.CliError, RuntimeError, OSError) as error:
        print(f"aura: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def with_store_url(settings: Settings, url: str) -> Settings | None:
    """`--store URL`, checked like AURA_STORE_URL, taken instead of it; None (and a line
    on stderr) when it is not a store URL."""
    try:
        parsed = STORE_URL.parse(url)
    except ValueError:
        print(f"aura: --store {redact_url(url)!r}: expected {STORE_URL.expect}", file=sys.stderr)
        return None
    return dataclasses.replace(settings, store_url=str(parsed))


if __name__ == "__main__":
    sys.exit(main())
