"""Plumbing shared by the mock servers: bootstrap, faults, validation, money."""

from mock_services.common.faults import FaultConfig, FaultSyntaxError, parse_fault_header
from mock_services.common.server import MockServer, start_mock_server
from mock_services.common.tls import MockTls

__all__ = [
    "FaultConfig",
    "FaultSyntaxError",
    "MockServer",
    "MockTls",
    "parse_fault_header",
    "start_mock_server",
]
