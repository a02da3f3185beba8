"""A headless sync of the field app's store: ``python -m mobile_app.cli sync --server URL --user U --data DIR``.

Signs in when the store has no valid session of ``--user`` (the password from ``EXPRO_PASSWORD``), then
runs one sync and prints its report as JSON. Exit 0 when the sync ran to the end, 1 when the server was
unreachable or refused the session, 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from mobile_app.errors import MobileError
from mobile_app.store import Store
from mobile_app.sync import CHUNK_BYTES, LARGE_BYTES, Retry, SyncClient, sign_in


def main(argv: list[str] | None = None) -> int:
    """Run the command line; the exit code."""
    parser = argparse.ArgumentParser(prog="python -m mobile_app.cli", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("sync", help="sign in if needed, then push and pull once")
    run.add_argument("--server", required=True, help="the API's address, e.g. http://127.0.0.1:8000")
    run.add_argument("--user", required=True, help="the field crew account")
    run.add_argument("--data", type=Path, default=Path(os.environ.get("EXPRO_MOBILE_DATA", "expro-mobile-data")),
                     help="the store's folder (default $EXPRO_MOBILE_DATA or ./expro-mobile-data)")
    run.add_argument("--large-mb", type=float, default=LARGE_BYTES / 1024**2,
                     help="captures larger than this go through resumable uploads")
    run.add_argument("--chunk-kb", type=int, default=CHUNK_BYTES // 1024, help="bytes per resumable range, in KiB")
    run.add_argument("--chunk-pause", type=float, default=0.0, help="seconds between ranges (a slow link)")
    run.add_argument("--attempts", type=int, default=5, help="tries per request before giving up for now")
    args = parser.parse_args(argv)
    if args.large_mb <= 0 or args.chunk_kb <= 0 or args.attempts < 1:
        parser.error("--large-mb, --chunk-kb and --attempts must be positive")
    args.data.mkdir(parents=True, exist_ok=True)
    try:
        with Store(args.data) as store:
            session = store.session()
            if session is None or session.expired or session.username != args.user:
                password = os.environ.get("EXPRO_PASSWORD")
                if not password:
                    print("没有有效登录，请设置 EXPRO_PASSWORD / no valid session: set EXPRO_PASSWORD", file=sys.stderr)
                    return 1
                sign_in(store, args.server, args.user, password)
            with SyncClient(store, server_url=args.server, retry=Retry(attempts=args.attempts),
                            large_bytes=int(args.large_mb * 1024**2), chunk_bytes=args.chunk_kb * 1024,
                            chunk_pause_s=args.chunk_pause) as client:
                report = client.sync()
    except MobileError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(json.dumps(report.as_dict(), ensure_ascii=False, indent=1))
    return 0 if report.outcome == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
