"""A run's priority: part of what its request_id identifies, without changing the
fingerprints of runs started before priorities existed."""

from __future__ import annotations

import hashlib

from google.protobuf import struct_pb2

from orchestrator.engine import RunSpec


def spec(**fields: object) -> RunSpec:
    run_input = struct_pb2.Struct()
    run_input.update({"text": "hello"})
    return RunSpec(
        "workflowDefinitions/d",
        run_input,
        {"team": "ml"},
        "req-1",
        **fields,  # type: ignore[arg-type]
    )


def fingerprint_before_priorities(run: RunSpec) -> str:
    """How fingerprints were made (and stored with runs) before the priority existed."""
    digest = hashlib.sha256()
    for part in (
        run.workflow_definition.encode(),
        run.input.SerializeToString(deterministic=True),
        repr(sorted(run.labels.items())).encode(),
        repr(run.timeout_s).encode(),
    ):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def test_priority_zero_leaves_the_fingerprint_as_it_was() -> None:
    assert spec().fingerprint() == fingerprint_before_priorities(spec())
    assert spec(timeout_s=5.0).fingerprint() == fingerprint_before_priorities(spec(timeout_s=5.0))


def test_a_different_priority_is_a_different_request() -> None:
    assert spec(priority=5).fingerprint() != spec().fingerprint()
    assert spec(priority=5).fingerprint() == spec(priority=5).fingerprint()
