"""share_links: create, list and revoke the participant page's share links from the Launchpad; the same
library calls as `face-pipeline share`. A new link's address and QR code are in the op's output
metadata (the token is shown once, there: only its hash is stored)."""

import base64
from typing import Literal

import dagster as dg
from pydantic import Field

from face_pipeline.defs.failures import user_errors_as_failures
from face_pipeline.defs.resources import FacePipeline
from face_pipeline.lib.errors import UserError
from face_pipeline.lib.share import create_link, list_links, parse_duration, revoke_link, share_url
from face_pipeline.lib.share.qr import qr_png

JOB_NAME = "share_links"


class ShareLinkRequest(dg.Config):
    action: Literal["create", "list", "revoke"] = Field(
        default="create", description="create a link for `events`; list the links; revoke `link_id`"
    )
    events: list[str] = Field(default=[], description="the event(s) the new link opens")
    expires: str = Field(default="14d", description="how long a new link works: 30m, 12h, 14d, 2w")
    link_id: str = Field(default="", description="the link to revoke (the list shows the ids)")


@dg.op(description="Create, list or revoke share links of the participant page.")
def manage_share_link(
    context: dg.OpExecutionContext, config: ShareLinkRequest, pipeline: FacePipeline
) -> dg.Output[str]:
    settings, store = pipeline.settings(), pipeline.store()
    with user_errors_as_failures():
        if config.action == "list":
            links = list_links(store)
            rows = [
                f"| {x.link_id} | {'active' if x.active else 'revoked' if x.revoked_at else 'expired'} | "
                f"{x.expires_at:%Y-%m-%d %H:%M %Z} | {', '.join(x.events)} |"
                for x in links
            ]
            table = "\n".join(["| link | state | expires | events |", "|---|---|---|---|", *rows])
            return dg.Output(f"{len(links)} link(s)", metadata={"links": dg.MetadataValue.md(table)})
        if config.action == "revoke":
            if not config.link_id:
                raise UserError("action=revoke needs link_id (action=list shows them)")
            revoke_link(store, config.link_id)
            return dg.Output(f"revoked {config.link_id}", metadata={"link": config.link_id})
        token, link = create_link(store, config.events, parse_duration(config.expires))
    url = share_url(settings.public_url, token)
    png = base64.b64encode(qr_png(url, scale=6)).decode()
    context.log.info(f"link {link.link_id} for {', '.join(link.events)} until {link.expires_at:%Y-%m-%d %H:%M %Z}")
    return dg.Output(
        url,
        metadata={
            "link": link.link_id,
            "url": dg.MetadataValue.url(url),
            "events": ", ".join(link.events),
            "expires": link.expires_at.isoformat(),
            "qr_code": dg.MetadataValue.md(f"![QR code of the link](data:image/png;base64,{png})"),
        },
    )


@dg.job(
    name=JOB_NAME,
    description="Share links of the participant page: create one for some events, list, revoke.",
    tags={"face_pipeline/kind": "share"},
)
def share_links_job():
    manage_share_link()
