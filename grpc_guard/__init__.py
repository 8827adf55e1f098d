"""gRPC server plumbing shared by the orchestrator and the mock services.

It imports nothing of either, so both can install it without an arrow between them:
the mock services stand for separate backends and never import the product.
"""

from grpc_guard.reloading_tls import reloading_server_credentials
from grpc_guard.request_decoding import UNDECODABLE_REQUEST, UndecodableRequestInterceptor

__all__ = ["UNDECODABLE_REQUEST", "UndecodableRequestInterceptor", "reloading_server_credentials"]
