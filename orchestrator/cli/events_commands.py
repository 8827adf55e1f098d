"""`aura events publish | tail | dead-letters`: clients of aura.events.v1.EventService."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from google.protobuf import json_format, timestamp_pb2
from rich.console import Console

from aura.events.v1 import events_pb2, events_pb2_grpc
from orchestrator.cli.client_commands import CliError, parse_input, print_json
from orchestrator.cli.tables import print_table
from orchestrator.security import client_channel


def add_parser(sub: Any, address: str) -> None:
    """`aura events ...` on `sub`, the subparsers of `aura`."""
    events = sub.add_parser("events", help="publish, follow and replay events of the event bus")
    verbs = events.add_subparsers(dest="events_command", required=True)

    def verb(name: str, help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = verbs.add_parser(name, help=help_text)
        parser.add_argument("--address", default=address, help="orchestrator host:port")
        parser.add_argument("topic", help="e.g. run.finished")
        return parser

    publish = verb("publish", "publish one event; answers once it is on the topic's stream")
    publish.add_argument("--key", default="", help="the event's key (triggers match it)")
    publish.add_argument("--event-id", default="", help="idempotency key (default: a new one)")
    publish.add_argument("--payload", default="{}", help="a JSON object, or @file.json")
    tail = verb("tail", "print a topic's events as JSON lines, then follow live ones")
    tail.add_argument(
        "--cursor", default="", help='resume after this Event.cursor; "0": from the oldest'
    )
    tail.add_argument("--count", type=int, default=0, help="stop after this many (0: follow)")
    dead = verb("dead-letters", "list a topic's dead letters, or replay one")
    dead.add_argument("--replay", metavar="ID", default="", help="put this dead letter back")
    dead.add_argument("--page-size", type=int, default=50)
    dead.add_argument("--json", action="store_true", help="the ListDeadLetters answer")


def _utc(stamp: timestamp_pb2.Timestamp) -> str:
    return datetime.fromtimestamp(stamp.ToMilliseconds() / 1000, UTC).strftime(
        "%Y-%m-%d %H:%M:%S.%f"
    )[:-3]


async def cmd_events(args: argparse.Namespace) -> int:
    async with client_channel(args.address) as channel:
        stub = events_pb2_grpc.EventServiceStub(channel)
        if args.events_command == "publish":
            return await _publish(stub, args)
        if args.events_command == "tail":
            return await _tail(stub, args)
        return await _dead_letters(stub, args)


async def _publish(stub: events_pb2_grpc.EventServiceStub, args: argparse.Namespace) -> int:
    try:
        payload = parse_input(args.payload)
    except CliError as error:
        raise CliError(str(error).replace("--input", "--payload")) from None
    answer = await stub.PublishEvent(
        events_pb2.PublishEventRequest(
            topic=args.topic, key=args.key, event_id=args.event_id, payload=payload
        )
    )
    print_json(answer)
    return 0


async def _tail(stub: events_pb2_grpc.EventServiceStub, args: argparse.Namespace) -> int:
    call = stub.SubscribeEvents(
        events_pb2.SubscribeEventsRequest(topic=args.topic, cursor=args.cursor)
    )
    seen = 0
    async for answer in call:
        sys.stdout.write(json_format.MessageToJson(answer.event, indent=None) + "\n")
        sys.stdout.flush()
        seen += 1
        if args.count and seen >= args.count:
            call.cancel()
            break
    return 0


async def _dead_letters(stub: events_pb2_grpc.EventServiceStub, args: argparse.Namespace) -> int:
    if args.replay:
        replayed = await stub.ReplayDeadLetter(
            events_pb2.ReplayDeadLetterRequest(topic=args.topic, id=args.replay)
        )
        print_json(replayed)
        return 0
    answer = await stub.ListDeadLetters(
        events_pb2.ListDeadLettersRequest(topic=args.topic, page_size=args.page_size)
    )
    if args.json:
        print_json(answer)
        return 0
    rows = [
        [
            letter.id,
            _utc(letter.dead_letter_time),
            letter.event.event_id,
            letter.group,
            str(letter.deliveries),
            letter.reason,
        ]
        for letter in answer.dead_letters
    ]
    console = Console()
    if not rows:
        console.print(f"no dead letters on {args.topic}")
        return 0
    print_table(
        console, ["id", "dead since (UTC)", "event_id", "group", "deliveries", "reason"], rows
    )
    return 0
