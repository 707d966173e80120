"""`share`: share links that open the participant page for some events (create, --list, --revoke),
and `serve`: the participant page itself (face_pipeline/web)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

from face_pipeline.cli.commands.store_access import open_store
from face_pipeline.lib.errors import UserError
from face_pipeline.lib.settings import Settings
from face_pipeline.lib.share import create_link, list_links, parse_duration, revoke_link, share_url
from face_pipeline.lib.share.qr import qr_png, qr_terminal
from face_pipeline.lib.storage import make_private_dir


def add_commands(sub) -> None:
    s = sub.add_parser(
        "share",
        help="a link (and QR code) that lets participants find their own photos of some events; --list, --revoke",
    )
    s.add_argument("events", nargs="*", help="the event(s) the link opens")
    s.add_argument("--expires", default="14d", help="how long the link works: 30m, 12h, 14d, 2w (default 14d)")
    s.add_argument("--qr", help="where to write the QR code PNG (default DATA_DIR/share/LINK_ID.png)")
    s.add_argument("--no-terminal-qr", action="store_true", help="do not draw the QR code in the terminal")
    s.add_argument("--list", action="store_true", help="list the links (id, events, expiry, state)")
    s.add_argument("--revoke", metavar="LINK_ID", help="withdraw a link: its page answers 404 from now on")
    s.set_defaults(run=cmd_share)
    s = sub.add_parser("serve", help="the participant page that share links open (runs beside the Dagster UI)")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 behind a load balancer)")
    s.add_argument("--port", type=int, default=8080)
    s.add_argument(
        "--forwarded-allow-ips",
        default=None,
        help="proxies whose X-Forwarded-For is trusted for the client address (rate limits)",
    )
    s.set_defaults(run=cmd_serve)


def cmd_share(args, settings: Settings) -> int:
    chosen = sum(bool(x) for x in (args.events, args.list, args.revoke))
    if chosen != 1:
        raise UserError("give the event(s) to share, or --list, or --revoke LINK_ID (one of them)")
    valid_for = parse_duration(args.expires) if args.events else None  # a bad --expires fails before any work
    settings, store = open_store(settings)
    if args.list:
        links = list_links(store)
        now = datetime.now(UTC)
        for link in links:
            state = "revoked" if link.revoked_at else "expired" if link.expires_at <= now else "active"
            print(f"{link.link_id}\t{state}\texpires {link.expires_at:%Y-%m-%d %H:%M %Z}\t{', '.join(link.events)}")
        print(f"{len(links)} link(s), {sum(link.active for link in links)} active")
        return 0
    if args.revoke:
        revoke_link(store, args.revoke)
        print(f"revoked {args.revoke}: its page answers 404 from now on")
        return 0
    token, link = create_link(store, args.events, valid_for)
    url = share_url(settings.public_url, token)
    png = Path(args.qr) if args.qr else make_private_dir(settings.local_dir / "share") / f"{link.link_id}.png"
    qr_png(url, png)
    if not args.no_terminal_qr:
        print(qr_terminal(url))
    print(f"link {link.link_id} for {', '.join(link.events)}, valid until {link.expires_at:%Y-%m-%d %H:%M %Z}:")
    print(url)
    print(f"QR code: {png}")
    print(
        f"participants open it on their phone while `face-pipeline serve` runs at {settings.public_url}; "
        f"`face-pipeline share --revoke {link.link_id}` withdraws it"
    )
    return 0


def cmd_serve(args, settings: Settings) -> int:
    import uvicorn

    from face_pipeline.web.app import create_app

    settings, store = open_store(settings)
    logging.getLogger("face_pipeline.serve").setLevel(logging.INFO)
    app = create_app(settings, store)
    print(f"participant page on http://{args.host}:{args.port} (links start with {settings.public_url})", flush=True)
    # No access log: every URL holds a share token, and the app logs each lookup without it.
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        access_log=False,
        log_level="warning",
        proxy_headers=bool(args.forwarded_allow_ips),
        forwarded_allow_ips=args.forwarded_allow_ips,
        server_header=False,
    )
    return 0
