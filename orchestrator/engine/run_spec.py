"""What a client asks to run (`RunSpec`), its checks, and the new run's first event."""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import struct_pb2

from aura.orchestrator.v1 import run_pb2
from orchestrator.engine.run_queue import MAX_PRIORITY, MIN_PRIORITY
from orchestrator.errors import InvalidArgument, ViolationCollector
from orchestrator.names import DEFAULT_TENANT, RUN_PREFIX
from orchestrator.proto_time import stamp_now
from orchestrator.runs import TenantScope, request_key
from orchestrator.workflows import CompiledWorkflow, run_input_as_json

MAX_RUN_TIMEOUT_S = 24 * 3600.0
MAX_REQUEST_ID_LENGTH = 128
MAX_LABEL_LENGTH = 63
INVALID_RUN_REASON = "INVALID_RUN_REQUEST"
_RUN_IDS = random.Random()


@dataclass(frozen=True)
class RunSpec:
    """What a client asks to run (the fields shared by Start/Execute/StreamWorkflowRun)."""

    workflow_definition: str
    input: struct_pb2.Struct = field(default_factory=struct_pb2.Struct)
    labels: Mapping[str, str] = field(default_factory=dict)
    request_id: str = ""
    timeout_s: float | None = None
    # Caller's own deadline (ExecuteWorkflowRun): bounds the run, not part of its identity.
    caller_deadline_s: float | None = None
    # Queue priority (MIN_PRIORITY..MAX_PRIORITY): higher is claimed first.
    priority: int = 0
    # Whose run it will be: the caller's tenant (DEFAULT_TENANT without authentication).
    tenant: str = DEFAULT_TENANT

    @property
    def scope(self) -> TenantScope:
        return TenantScope.of(self.tenant)

    @property
    def request_key(self) -> str:
        """The request id as the store keeps it: per tenant."""
        return request_key(self.tenant, self.request_id)

    def request_fingerprint(self) -> str:
        """What the store keeps to tell a replayed request id from a reused one: the
        fingerprint, or nothing for a run without a request id (never compared)."""
        return self.fingerprint() if self.request_id else ""

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        parts = [
            self.workflow_definition.encode(),
            self.input.SerializeToString(deterministic=True),
            repr(sorted(self.labels.items())).encode(),
            repr(self.timeout_s).encode(),
        ]
        if self.priority:  # absent when 0: fingerprints stored before priorities still match
            parts.append(repr(self.priority).encode())
        for part in parts:
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
        return digest.hexdigest()


def validate_spec(
    spec: RunSpec, required_inputs: tuple[str, ...], default_timeout_s: float
) -> tuple[float, dict[str, Any]]:
    """Everything the run needs, checked before its creation commits: a run that
    passes can be stored, converted (json_format) and listed. Returns its timeout and
    its input as the steps read it (converted once, here)."""
    problems = ViolationCollector()
    if len(spec.request_id) > MAX_REQUEST_ID_LENGTH:
        problems.add("request_id", f"at most {MAX_REQUEST_ID_LENGTH} characters")
    for key, value in spec.labels.items():
        path = f"labels[{key[:MAX_LABEL_LENGTH]}]"
        if (
            not key
            or len(key) > MAX_LABEL_LENGTH
            or not key.replace("_", "a").replace("-", "a").isalnum()
        ):
            problems.add(path, "label keys are 1-63 letters, digits, '-' or '_'")
        if len(value) > MAX_LABEL_LENGTH:
            problems.add(path, "label values are at most 63 characters")
    run_input, input_problems = run_input_as_json(spec.input)
    problems.violations.extend(input_problems)
    if not input_problems:
        for key in required_inputs:
            given = spec.input.fields.get(key)
            if given is None or given.WhichOneof("kind") == "null_value":
                problems.add(f"input.{key}", f"required input {key!r} is missing")
    if not MIN_PRIORITY <= spec.priority <= MAX_PRIORITY:
        problems.add("priority", f"must be {MIN_PRIORITY}..{MAX_PRIORITY}")
    timeout_s = default_timeout_s if spec.timeout_s is None else spec.timeout_s
    if spec.timeout_s is not None and not 0 < spec.timeout_s <= MAX_RUN_TIMEOUT_S:
        problems.add("timeout", "must be positive and at most 24h")
    if problems.violations:
        raise InvalidArgument(
            "invalid run request: "
            + "; ".join(f"{v.field}: {v.description}" for v in problems.violations[:3]),
            reason=INVALID_RUN_REASON,
            violations=problems.violations,
        )
    if spec.caller_deadline_s is not None:
        if spec.caller_deadline_s <= 0:
            raise InvalidArgument(
                "the caller's deadline has already passed", reason="DEADLINE_TOO_SHORT"
            )
        timeout_s = min(timeout_s, spec.caller_deadline_s)
    assert run_input is not None  # no input problems: it converted
    return timeout_s, run_input


def created_event(
    spec: RunSpec,
    workflow: CompiledWorkflow,
    timeout_s: float,
    *,
    queued: bool,
    priority: int = 0,
) -> run_pb2.RunEvent:
    """A new run's `run_created` event (seq 1), under a new random name."""
    # 128 random bits from a urandom-seeded PRNG of our own: unique without a syscall per
    # run, and untouched by anything in the process that calls random.seed().
    name = RUN_PREFIX + f"{_RUN_IDS.getrandbits(128):032x}"
    created = run_pb2.RunCreated(
        workflow_definition=workflow.name,
        input=spec.input,
        labels=dict(spec.labels),
        request_id=spec.request_id,
        steps=[
            run_pb2.StepRun(step_id=step.id, method=step.method.full_name, optional=step.optional)
            for step in workflow.steps.values()
        ],
        queued=queued,
        priority=priority,
        tenant=spec.tenant,
    )
    created.expire_time.FromNanoseconds(time.time_ns() + int(timeout_s * 1e9))
    event = run_pb2.RunEvent(run=name, seq=1, run_created=created)
    stamp_now(event.time)
    return event
