#!/usr/bin/env python3
"""Container health probe: exit 0 when GET http://127.0.0.1:$STRUCTSERVE_PORT<path> answers 2xx.

Used by the image's HEALTHCHECK (`structserve-healthcheck /health`) and by compose. Standard
library only, so it works in any image stage and costs no import time.

Usage: structserve-healthcheck [PATH] [--port PORT] [--timeout SECONDS]
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.error
import urllib.request


def probe(url: str, *, timeout: float) -> tuple[bool, str]:
    """GET `url` once.

    Args:
        url: the address to probe.
        timeout: seconds to wait for the answer.

    Returns:
        (healthy, a one-line reason).
    """
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        return False, f"{url}: HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        return False, f"{url}: {exc}"
    return 200 <= status < 300, f"{url}: HTTP {status}"


def main(argv: list[str] | None = None) -> int:
    """CLI entry: probe once, print the reason on failure, return the exit status."""
    parser = argparse.ArgumentParser(prog="structserve-healthcheck", description=__doc__)
    parser.add_argument("path", nargs="?", default="/health", help="HTTP path to probe.")
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("STRUCTSERVE_PORT", "8000")),
        help="Port on 127.0.0.1 (default: $STRUCTSERVE_PORT or 8000).",
    )
    parser.add_argument("--timeout", type=float, default=4.0, help="Seconds to wait.")
    args = parser.parse_args(argv)
    path = args.path if args.path.startswith("/") else f"/{args.path}"
    healthy, reason = probe(f"http://127.0.0.1:{args.port}{path}", timeout=args.timeout)
    if not healthy:
        print(f"unhealthy: {reason}", file=sys.stderr)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
