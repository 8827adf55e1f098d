"""The HTTP gateway (JSON and Server-Sent Events over the orchestrator's public gRPC API,
routes read from its google.api.http rules) and the web console it serves."""

from orchestrator.gateway.app import Gateway, create_app
from orchestrator.gateway.http_rules import HttpRoute, RequestError, compile_template, routes_of
from orchestrator.gateway.layout import dependency_graph, layout
from orchestrator.gateway.serving import ConsoleServer, parse_console_address
from orchestrator.gateway.statuses import HTTP_STATUS, http_status, status_json

__all__ = [
    "HTTP_STATUS",
    "ConsoleServer",
    "Gateway",
    "HttpRoute",
    "RequestError",
    "compile_template",
    "create_app",
    "dependency_graph",
    "http_status",
    "layout",
    "parse_console_address",
    "routes_of",
    "status_json",
]
