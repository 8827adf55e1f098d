"""The import graph of `orchestrator/` points downhill and has no cycle.

Layers, bottom first; a module may import only from layers below its own (never sideways,
so packages of one layer know nothing of each other):

    0  errors, envvars, names      vocabulary: error types, env parsing, resource names, services
    1  resilience, runs            pure parts: retry, breaker, deadline...; the fold, filter, tokens
    2  workflows, store, telemetry definitions and their compiler; the event store; observability
    3  events, mesh, analytics,    live events over the store; backend channels; reports on
       config, bus                 what happened (from events, not the mesh); typed settings;
                                   the event bus on Redis Streams (outbox relay, triggers)
    4  engine                      runs a compiled plan over the mesh
    5  cluster                     replicas on a shared store: heartbeats, takeover, cross-talk
    6  api                         gRPC servicers: proto <-> domain
    7  drain, server_bus           graceful shutdown of the API; the server's event bus side
       gateway                     HTTP/JSON and the web console over the public gRPC API
    8  server, gc_pacing           the process: wires everything and owns the lifecycle;
                                   the pace of its garbage collector
    9  cli                         `aura`, on top (and the console it serves)

`mock_services/` is a separate program: it imports nothing from the product, and the
product imports nothing from it (the CLI starts it as `python -m mock_services...`).
`grpc_guard/` is server plumbing both install; it imports neither.
"""

from __future__ import annotations

import networkx as nx

from tests.source_imports import all_imports, modules

LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "envvars", "names", "proto_time"),
    ("resilience", "runs", "security"),
    ("workflows", "store", "telemetry"),
    ("events", "mesh", "analytics", "config", "bus"),
    ("engine",),
    ("cluster",),
    ("api",),
    ("drain", "server_bus", "gateway"),
    ("server", "gc_pacing"),
    ("cli",),
)
LAYER_OF = {package: level for level, packages in enumerate(LAYERS) for package in packages}


def _package(module: str) -> str:
    """`orchestrator.engine.catalog` -> `engine`; `orchestrator.names` -> `names`."""
    return module.split(".")[1] if module.count(".") else ""


def _product_edges() -> list[tuple[str, str, str]]:
    """(importer, imported, where) for every import from one product module of another."""
    return [
        (edge.importer, edge.imported, str(edge))
        for edge in all_imports("orchestrator")
        if edge.imported.split(".")[0] == "orchestrator" and edge.imported != "orchestrator"
    ]


def test_every_package_and_top_module_has_a_layer() -> None:
    tops = {_package(module) for module in modules("orchestrator")} - {""}
    assert sorted(tops - LAYER_OF.keys()) == [], "place the new package in LAYERS"


def test_imports_point_only_downhill() -> None:
    upward = [
        where
        for importer, imported, where in _product_edges()
        if _package(importer) != _package(imported)
        and LAYER_OF[_package(importer)] <= LAYER_OF[_package(imported)]
    ]
    assert upward == []


def test_no_cycle_between_packages() -> None:
    graph: nx.DiGraph[str] = nx.DiGraph()
    for importer, imported, _ in _product_edges():
        if _package(importer) != _package(imported):
            graph.add_edge(_package(importer), _package(imported))
    assert list(nx.simple_cycles(graph)) == []


def test_no_cycle_between_modules() -> None:
    graph: nx.DiGraph[str] = nx.DiGraph()
    graph.add_edges_from((importer, imported) for importer, imported, _ in _product_edges())
    assert list(nx.simple_cycles(graph)) == []


def test_the_product_never_imports_the_mocks() -> None:
    edges = [str(e) for e in all_imports("orchestrator") if e.imported.startswith("mock_services")]
    assert edges == []


def test_the_mocks_never_import_the_product() -> None:
    edges = [
        str(edge)
        for edge in all_imports("mock_services")
        if edge.imported.split(".")[0] == "orchestrator"
    ]
    assert edges == []


def test_the_shared_server_plumbing_imports_neither_program() -> None:
    edges = [
        str(edge)
        for edge in all_imports("grpc_guard")
        if edge.imported.split(".")[0] in ("orchestrator", "mock_services")
    ]
    assert edges == []


def test_the_graph_is_read_from_the_real_tree() -> None:
    """Guards the tests above against passing on an empty or misread tree."""
    importers = {importer for importer, _, _ in _product_edges()}
    assert {"orchestrator.server", "orchestrator.engine.engine"} <= importers
    assert len(modules("orchestrator")) > 50
