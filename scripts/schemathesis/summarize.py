#!/usr/bin/env python3
"""Summarizes a schemathesis NDJSON report: failures by surface, check and
operation, each with the status and body received and a curl to reproduce.

    summarize.py REPORT.ndjson [--openapi openapi.json] [--markdown OUT.md]

Prints a short table (check x surface) and one line per distinct failure;
with --markdown also writes every distinct failure with its reproduction.
Exit code: 0 when the report holds no failure, 1 otherwise.
"""

from __future__ import annotations

import argparse
import base64
import collections
import json
import shlex
import sys


def _body(raw):
    if raw is None:
        return None
    if isinstance(raw, dict) and "$base64" in raw:
        try:
            return base64.b64decode(raw["$base64"]).decode("utf-8", "replace")
        except Exception:  # noqa: BLE001 - shown as-is
            return raw["$base64"]
    if isinstance(raw, dict) and "string" in raw:
        return raw["string"]
    return str(raw)


def _curl(request: dict) -> str:
    parts = ["curl", "-sS", "-i", "-X", request["method"]]
    for name, values in (request.get("headers") or {}).items():
        for value in values:
            parts += ["-H", f"{name}: {value}"]
    body = _body(request.get("body"))
    if body:
        parts += ["--data-binary", body]
    parts.append(request["uri"])
    return " ".join(shlex.quote(p) for p in parts)


def _tags(openapi_path: str | None) -> dict[str, str]:
    if not openapi_path:
        return {}
    with open(openapi_path, encoding="utf-8") as handle:
        document = json.load(handle)
    tags = {}
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if isinstance(operation, dict) and "responses" in operation:
                tags[f"{method.upper()} {path}"] = (operation.get("tags") or ["?"])[0]
    return tags


def _surface(label: str, tags: dict[str, str]) -> str:
    if label in tags:
        return tags[label]
    # Unsupported-method probes (TRACE …) name no documented operation.
    path = label.split(" ", 1)[-1]
    for known, tag in tags.items():
        if known.split(" ", 1)[-1] == path:
            return tag
    return "?"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("report")
    parser.add_argument("--openapi")
    parser.add_argument("--markdown")
    parser.add_argument("--examples", type=int, default=2, help="reproductions kept per distinct failure")
    args = parser.parse_args()
    tags = _tags(args.openapi)

    # (operation, check code, status) -> entries
    distinct: dict[tuple, list] = collections.defaultdict(list)
    titles: dict[str, str] = {}
    with open(args.report, encoding="utf-8") as handle:
        for line in handle:
            event = json.loads(line)
            finished = event.get("ScenarioFinished")
            if not finished or finished.get("status") != "failure":
                continue
            recorder = finished["recorder"]
            phase = finished.get("phase")
            for case_id, checks in (recorder.get("checks") or {}).items():
                interaction = (recorder.get("interactions") or {}).get(case_id)
                for check in checks:
                    if check.get("status") != "failure":
                        continue
                    failure = (check.get("failure_info") or {}).get("failure") or {}
                    code = failure.get("code", check["name"])
                    titles[code] = f"{failure.get('title', check['name'])} ({check['name']})"
                    label = failure.get("operation") or recorder.get("label")
                    status = interaction["response"]["status_code"] if interaction and interaction.get("response") else None
                    key = (label, code, status)
                    entries = distinct[key]
                    if len(entries) < args.examples:
                        entries.append(
                            {
                                "phase": phase,
                                "message": failure.get("message", ""),
                                "curl": _curl(interaction["request"]) if interaction else "",
                                "response": (_body(interaction["response"].get("content")) or "")[:400]
                                if interaction and interaction.get("response")
                                else "",
                            }
                        )
                    else:
                        entries.append(None)

    if not distinct:
        print("schemathesis: no failures")
        return 0

    by_surface_check = collections.Counter()
    for (label, code, _status), _ in distinct.items():
        by_surface_check[(_surface(label, tags), code)] += 1
    surfaces = sorted({s for s, _ in by_surface_check})
    codes = sorted({c for _, c in by_surface_check})
    print("distinct failures (operation x check x status), by surface:")
    print("  " + "check".ljust(58) + "".join(s[:12].rjust(13) for s in surfaces))
    for code in codes:
        row = "".join(str(by_surface_check.get((s, code), "")).rjust(13) for s in surfaces)
        print("  " + f"{code} {titles.get(code, '')}"[:58].ljust(58) + row)
    operations = {label for label, _, _ in distinct}
    print(f"  {len(distinct)} distinct failures on {len(operations)} operations")
    print()
    for (label, code, status), entries in sorted(distinct.items()):
        first = entries[0]
        lines = [l.strip() for l in first["message"].splitlines() if l.strip()]
        # The first line is the check's generic text; the rest says why.
        detail = "; ".join(lines[1:] or lines)
        print(f"  [{_surface(label, tags)}] {label}: {code} -> {status} {detail[:110]} | {first['response'][:110]!r}")

    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as out:
            out.write("# schemathesis failures\n\n")
            for (label, code, status), entries in sorted(distinct.items()):
                count = len(entries)
                out.write(f"## [{_surface(label, tags)}] {label} — {code} {titles.get(code, '')} — {status} ({count} case(s))\n\n")
                for entry in [e for e in entries if e][: args.examples]:
                    out.write(f"phase: {entry['phase']}\n\n```\n{entry['message']}\n```\n\n")
                    out.write(f"```sh\n{entry['curl']}\n```\n\nresponse: `{entry['response']}`\n\n")
    return 1


if __name__ == "__main__":
    sys.exit(main())
