#!/usr/bin/env python3
"""A stock nats-py subscriber of eventauth's events (pip install nats-py).

Reads every message of the stream with an ephemeral ordered consumer,
parses each CloudEvent and prints one JSON line per event; exits after
--count messages (or runs forever without it). See docs/nats.md.

    python3 examples/consumer.py --stream EVENTAUTH --subject 'eventauth.>' --count 10
"""
import argparse
import asyncio
import json
import sys

import nats

REQUIRED = ("specversion", "id", "source", "type", "subject", "time", "datacontenttype", "data")


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="nats://127.0.0.1:4222")
    parser.add_argument("--stream", default="EVENTAUTH")
    parser.add_argument("--subject", default="eventauth.>")
    parser.add_argument("--count", type=int, default=0)
    args = parser.parse_args()

    nc = await nats.connect(args.url)
    js = nc.jetstream()
    sub = await js.subscribe(args.subject, stream=args.stream, ordered_consumer=True)
    seen = 0
    try:
        while args.count == 0 or seen < args.count:
            msg = await sub.next_msg(timeout=10)
            event = json.loads(msg.data)
            missing = [key for key in REQUIRED if key not in event]
            if missing or event["specversion"] != "1.0":
                print(f"not a CloudEvent: missing {missing}", file=sys.stderr)
                return 1
            print(json.dumps({"id": event["id"], "type": event["type"], "subject": event["subject"],
                              "cursor": event.get("eventauthcursor"), "data": event["data"]}))
            seen += 1
    finally:
        await nc.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
