"""Live step progress of a run in the terminal, drawn from its event stream."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from aura.orchestrator.v1 import run_pb2
from aura.transaction.v1 import participant_pb2
from orchestrator.names import DEFINITION_PREFIX

STATE_STYLE = {
    "QUEUED": ("…", "blue"),  # a run waiting in the run queue
    "PENDING": ("·", "dim"),
    "SCHEDULED": ("○", "cyan"),
    "RUNNING": ("◐", "yellow"),
    "RETRYING": ("↻", "magenta"),
    "SUCCEEDED": ("✔", "green"),
    "FAILED": ("✘", "red"),
    "SKIPPED": ("⤼", "dim"),
    "CANCELLED": ("■", "red"),
}


@dataclass
class StepLine:
    step_id: str
    method: str
    state: str = "PENDING"
    attempts: int = 0
    started: float | None = None
    ended: float | None = None
    note: str = ""


@dataclass
class ProgressView:
    """Folds events into one line per step; `render()` draws them."""

    run: str = ""
    definition: str = ""
    state: str = "PENDING"
    steps: dict[str, StepLine] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    ended: float | None = None
    error: str = ""

    def apply(self, event: run_pb2.RunEvent) -> None:
        kind = event.WhichOneof("event")
        # Server-side event times: step timings do not depend on the client's network.
        now = event.time.ToNanoseconds() / 1e9
        if kind == "run_created":
            self.started = now
            self.run = event.run
            self.definition = event.run_created.workflow_definition
            if event.run_created.queued:
                self.state = "QUEUED"
            for step in event.run_created.steps:
                self.steps[step.step_id] = StepLine(step.step_id, step.method)
        elif kind in ("run_started", "run_resumed"):
            self.state = "RUNNING"
        elif kind == "step_scheduled":
            self._step(event.step_scheduled.step_id).state = "SCHEDULED"
        elif kind == "step_started":
            line = self._step(event.step_started.step_id)
            line.state, line.attempts = "RUNNING", event.step_started.attempt
            line.started = line.started or now
        elif kind == "step_attempt_failed":
            line = self._step(event.step_attempt_failed.step_id)
            line.state = "RETRYING"
            line.note = status_text(event.step_attempt_failed.error)
        elif kind == "step_succeeded":
            line = self._step(event.step_succeeded.step_id)
            line.state, line.ended, line.note = "SUCCEEDED", now, ""
            line.note = f"{event.step_succeeded.latency.ToNanoseconds() / 1e6:.1f} ms call"
        elif kind == "step_failed":
            line = self._step(event.step_failed.step_id)
            line.state, line.ended, line.note = "FAILED", now, status_text(event.step_failed.error)
        elif kind == "step_skipped":
            line = self._step(event.step_skipped.step_id)
            line.state, line.note = "SKIPPED", event.step_skipped.reason
        elif kind == "step_cancelled":
            line = self._step(event.step_cancelled.step_id)
            line.state, line.ended, line.note = "CANCELLED", now, event.step_cancelled.reason
        elif kind == "transaction_voted":
            line = self._step(event.transaction_voted.step_id)
            line.note = f"voted {_vote(event.transaction_voted.vote)}"
        elif kind == "transaction_acknowledged":
            acked = event.transaction_acknowledged
            self._step(acked.step_id).note = f"{_decision(acked.decision)} acknowledged"
        elif kind == "step_compensated":
            self._step(event.step_compensated.step_id).note = "compensated (undone)"
        elif kind == "run_finished":
            self.state = run_pb2.RunState.Name(event.run_finished.state).removeprefix("RUN_STATE_")
            self.ended = now
            if event.run_finished.HasField("error"):
                self.error = status_text(event.run_finished.error)

    def _step(self, step_id: str) -> StepLine:
        return self.steps.setdefault(step_id, StepLine(step_id, ""))

    def render(self) -> Group:
        table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
        for column in ("", "step", "method", "attempts", "time", ""):
            table.add_column(column)
        now = time.time()
        # A copy: the live display renders from its own thread while events arrive.
        for line in list(self.steps.values()):
            icon, style = STATE_STYLE.get(line.state, ("?", ""))
            elapsed = ""
            if line.started is not None:
                elapsed = f"{((line.ended or now) - line.started) * 1000:7.1f} ms"
            table.add_row(
                Text(icon, style=style),
                Text(line.step_id, style=style),
                Text(line.method, style="dim"),
                str(line.attempts or ""),
                elapsed,
                Text(line.note, style="dim"),
            )
        total = ((self.ended or now) - self.started) * 1000
        header = Text.assemble(
            (f"{self.definition.removeprefix(DEFINITION_PREFIX)} ", "bold"),
            (f"{self.run}  ", "dim"),
            (self.state, STATE_STYLE.get(self.state, ("", "bold"))[1] or "bold"),
            f"  {total:.1f} ms",
        )
        parts: list[Text | Table] = [header, table]
        if self.error:
            parts.append(Text(self.error, style="red"))
        return Group(*parts)


def status_text(status: object) -> str:
    """`CODE: message` of a google.rpc.Status."""
    code = getattr(status, "code", 0)
    message = getattr(status, "message", "")
    from orchestrator.errors import is_status_code, status_code_of

    name = status_code_of(code).name if is_status_code(code) else str(code)
    return f"{name}: {message}" if message else name


class ProgressPrinter:
    """A live table on a terminal, redrawn 10 times a second so running steps' clocks
    tick between events; one plain line per event elsewhere (CI logs, pipes)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.view = ProgressView()
        self._live: Live | None = None

    def __enter__(self) -> ProgressPrinter:
        if self.console.is_terminal:
            self._live = Live(
                console=self.console, refresh_per_second=10, get_renderable=self.view.render
            )
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.refresh()
            self._live.__exit__(None, None, None)

    def show(self, event: run_pb2.RunEvent) -> None:
        self.view.apply(event)
        if self._live is not None:
            self._live.refresh()
        else:
            self.console.print(_event_line(event), highlight=False, markup=False, soft_wrap=True)


def _vote(vote: int) -> str:
    if not vote:
        return "none"
    name = participant_pb2.Vote.Name(vote)  # type: ignore[arg-type]
    return name.removeprefix("VOTE_")


def _decision(decision: int) -> str:
    name = run_pb2.TransactionDecision.Name(decision)  # type: ignore[arg-type]
    return name.removeprefix("TRANSACTION_DECISION_")


def _event_line(event: run_pb2.RunEvent) -> str:
    kind = event.WhichOneof("event") or "?"
    body = getattr(event, kind)
    step = getattr(body, "step_id", "")
    detail = ""
    if kind == "step_started":
        detail = f"attempt {event.step_started.attempt}"
    elif kind == "step_succeeded":
        detail = f"{event.step_succeeded.latency.ToNanoseconds() / 1e6:.1f} ms"
    elif kind in ("step_failed", "step_attempt_failed"):
        detail = status_text(body.error)
    elif kind in ("step_skipped", "step_cancelled"):
        detail = body.reason
    elif kind == "transaction_voted":
        detail = f"{body.transaction_id} vote {_vote(body.vote)}"
        if body.HasField("refusal"):
            detail += f" ({status_text(body.refusal)})"
    elif kind == "transaction_decided":
        detail = f"{body.transaction_id} decision {_decision(body.decision)}"
    elif kind == "transaction_acknowledged":
        detail = f"{_decision(body.decision)} after {body.attempts} call(s)"
    elif kind == "run_finished":
        detail = run_pb2.RunState.Name(event.run_finished.state)
        if event.run_finished.HasField("error"):
            detail += f" ({status_text(event.run_finished.error)})"
    return f"{event.seq:>4} {kind:<20} {step:<22} {detail}".rstrip()
