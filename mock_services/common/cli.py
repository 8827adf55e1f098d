"""Command-line flags shared by `python -m mock_services` and `python -m mock_services.<name>`.

Fault settings come from the environment first (`AURA_MOCK_<SETTING>`, then
`AURA_MOCK_<SERVICE>_<SETTING>`), and a flag given on the command line wins over both.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
from collections.abc import Sequence

from mock_services.common.faults import FaultConfig, FaultSyntaxError, parse_status_code
from mock_services.common.server import start_mock_server
from mock_services.common.tls import MockTls
from mock_services.registry import SERVICE_PORTS

log = logging.getLogger(__name__)

# Flag destination -> FaultConfig field.
_FAULT_FLAGS = (
    "latency_ms",
    "jitter_ms",
    "error_rate",
    "error_code",
    "hang",
    "retry_pushback_ms",
    "slow_start_s",
    "health_flap_s",
    "not_serving",
)


def build_parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument(
        "--host",
        default=os.environ.get("AURA_MOCK_HOST", "127.0.0.1"),
        help="interface to listen on (env AURA_MOCK_HOST; default 127.0.0.1)",
    )
    parser.add_argument(
        "--grace-s",
        type=float,
        default=1.0,
        help="how long in-flight calls may finish on shutdown (default 1)",
    )
    parser.add_argument(
        "--log-level",
        default=os.environ.get("AURA_MOCK_LOG_LEVEL", "INFO"),
        help="logging level (env AURA_MOCK_LOG_LEVEL; default INFO)",
    )
    faults = parser.add_argument_group("faults (override AURA_MOCK_* environment variables)")
    faults.add_argument("--latency-ms", type=float, help="fixed delay before every answer")
    faults.add_argument("--jitter-ms", type=float, help="extra random delay, 0..N ms")
    faults.add_argument("--error-rate", type=float, help="share of calls that fail, 0..1")
    faults.add_argument(
        "--error-code",
        type=_status_code,
        help="status code of injected failures (default UNAVAILABLE)",
    )
    faults.add_argument(
        "--hang", action="store_const", const=True, help="never answer; callers hit their deadline"
    )
    faults.add_argument(
        "--retry-pushback-ms", type=int, help="send grpc-retry-pushback-ms with injected failures"
    )
    faults.add_argument(
        "--slow-start-s", type=float, help="NOT_SERVING and UNAVAILABLE for this long after start"
    )
    faults.add_argument(
        "--health-flap-s",
        type=float,
        help="flip health between SERVING and NOT_SERVING every N seconds",
    )
    faults.add_argument(
        "--not-serving",
        action="store_const",
        const=True,
        help="report NOT_SERVING from the start (calls are still answered)",
    )
    return parser


def _status_code(text: str) -> str:
    try:
        parse_status_code(text)
    except FaultSyntaxError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def faults_from_args(args: argparse.Namespace, service: str) -> FaultConfig:
    """Environment settings for `service`, overridden by the flags that were given."""
    config = FaultConfig.from_env(service=service)
    for name in _FAULT_FLAGS:
        value = getattr(args, name)
        if value is not None:
            setattr(config, name, parse_status_code(value) if name == "error_code" else value)
    config.validate()
    return config


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


async def serve_one(name: str, address: str, faults: FaultConfig, grace_s: float) -> None:
    """Runs one mock until SIGINT or SIGTERM, then stops it gracefully."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    server = await start_mock_server(name, address, faults, tls=MockTls.from_env())
    print(f"{name:<15} {server.service_name:<48} {server.address}", flush=True)
    try:
        await stop.wait()
    finally:
        await server.stop(grace_s)


def run_single(name: str, argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m mock_services.<name>`."""
    parser = build_parser(f"python -m mock_services.{name}", f"Run the {name} mock service.")
    env_port = os.environ.get(f"AURA_MOCK_{name.upper()}_PORT")
    parser.add_argument(
        "--port",
        type=int,
        default=int(env_port or SERVICE_PORTS[name]),
        help=f"port (env AURA_MOCK_{name.upper()}_PORT; default "
        f"{SERVICE_PORTS[name]}; 0 picks a free one)",
    )
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    try:
        faults = faults_from_args(args, name)
    except FaultSyntaxError as error:
        parser.error(str(error))
    try:
        asyncio.run(serve_one(name, f"{args.host}:{args.port}", faults, args.grace_s))
    except OSError as error:
        log.error("%s", error)
        return 1
    return 0
