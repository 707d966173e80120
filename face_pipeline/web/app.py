"""The participant page as an ASGI app (Starlette): routes, limits and headers; the work is lib/share's
and lib/search's.

Routes (TOKEN is a share link's token; everything under it answers one plain 404 for an expired,
revoked or made-up token, so a holder learns nothing about what exists):
    GET  /s/TOKEN                    the page: take or choose a selfie
    POST /s/TOKEN/find               the selfie in, "your photos" out (an HTML fragment for the page's
                                     script, a whole page without it)
    GET  /s/TOKEN/photo/...?sig=     a returned photo: thumbnail with the face boxed, full size, download
    GET  /s/TOKEN/zip?sig=           every returned photo as one zip, streamed
    GET  /livez, /readyz             for a load balancer (readyz asks the database)
"""

from __future__ import annotations

import base64
import io
import logging
import mimetypes
import time
from collections.abc import Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

import anyio
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.formparsers import MultiPartParser
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from face_pipeline.lib.errors import FacePipelineError, SystemFault
from face_pipeline.lib.photos.files import PhotoRejected
from face_pipeline.lib.search import (
    AmbiguousReference,
    NoFaceInReference,
    NoVectors,
    PhotoMatch,
    lookup,
)
from face_pipeline.lib.settings import Settings
from face_pipeline.lib.share import participant as P
from face_pipeline.lib.share.links import OpenLink, open_link
from face_pipeline.lib.share.signing import signature, signed, unsigned, url_key, verify
from face_pipeline.lib.store import VectorStore, named_row, statement

log = logging.getLogger("face_pipeline.serve")
HERE = Path(__file__).parent

#: No script, style, image or font from anywhere but this server (the page works offline); the
#: face crops of a group selfie come inline as data: images, never stored.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the token is in the URL: never hand it to another site
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=()",
}
NOT_FOUND_TEXT = "This link does not open anything: it may have expired or been withdrawn. Ask the organiser."


@dataclass
class Served:
    """What one process of `serve` holds: settings, the store, counters, and a limit on how many
    lookups run the models at once (more would only share the same cores slower)."""

    settings: Settings
    store: VectorStore
    templates: Environment
    limiter: anyio.CapacityLimiter
    link_hits: object
    client_hits: object


def _templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["quote"] = quote
    return env


def render(served: Served, name: str, status: int = 200, **context) -> HTMLResponse:
    body = served.templates.get_template(name).render(**context)
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


def not_found(served: Served) -> HTMLResponse:
    return render(served, "not_found.html", 404, text=NOT_FOUND_TEXT)


def _served(request: Request) -> Served:
    return request.app.state.served


async def _open(request: Request) -> OpenLink | None:
    served = _served(request)
    return await anyio.to_thread.run_sync(open_link, served.store, request.path_params["token"])


# ---------------------------------------------------------------- the page


async def page(request: Request) -> Response:
    served = _served(request)
    link = await _open(request)
    if link is None:
        return not_found(served)
    return render(served, "page.html", link=link, token=request.path_params["token"], answer=None)


@dataclass
class Shown:
    """One photo on the page, with the signed URLs that fetch it."""

    match: PhotoMatch
    thumb: str
    full: str
    download: str
    file_name: str
    confirm: str = ""  # candidates: the signed face the person can confirm


def _photo_urls(served: Served, key: bytes, token: str, link: OpenLink, m: PhotoMatch) -> Shown:
    until = int(link.expires_at.timestamp())
    box = ",".join(str(int(v)) for v in m.box)
    sig = signature(key, f"{m.event}/{m.photo_id}/{box}/{until}", link.link_id, "photo")
    base = f"/s/{quote(token)}/photo/{quote(m.event)}/{quote(m.photo_id)}"
    query = urlencode({"box": box, "until": until, "sig": sig})
    name = m.path.rsplit("/", 1)[-1]
    return Shown(m, f"{base}/thumb?{query}", f"{base}/full?{query}", f"{base}/download?{query}", name)


def _zip_url(key: bytes, token: str, link: OpenLink, matches: Sequence[PhotoMatch]) -> str:
    until = int(link.expires_at.timestamp())
    items = ",".join(f"{m.event}:{m.photo_id}" for m in matches)
    sig = signature(key, f"{items}/{until}", link.link_id, "zip")
    return f"/s/{quote(token)}/zip?" + urlencode({"items": items, "until": until, "sig": sig})


def _data_uri(img) -> str:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def _client(request: Request) -> str:
    return request.client.host if request.client else "?"


async def _read_upload(request: Request, limit: int) -> bytes | None:
    """The request body, at most `limit` bytes (None when it is larger): read into memory only."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + 64 * 1024:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit + 64 * 1024:  # room for the form's own fields and boundaries
            return None
    return bytes(body)


class Refusal(Exception):
    """A lookup the page answers with a message instead of photos (status, outcome code, advice)."""

    def __init__(self, status: int, outcome: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.outcome, self.message, self.headers = status, outcome, message, headers or {}


@dataclass
class Selfie:
    """What the form brought: the picture (in memory) and the person's earlier answers."""

    name: str
    data: bytes
    face_index: int | None
    confirmed: list[str]  # face ids the person confirmed (signatures checked)
    declined: set[str]  # face ids the person answered "No" to


def _check_rate(served: Served, request: Request, link: OpenLink) -> None:
    settings = served.settings
    for counter, key, limit in (
        (served.link_hits, f"link:{link.link_id}", settings.lookups_per_minute_per_link),
        (served.client_hits, f"client:{_client(request)}", settings.lookups_per_minute_per_client),
    ):
        wait = counter.retry_after(key, limit)
        if wait:
            raise Refusal(
                429,
                "rate_limited",
                f"Too many searches just now: please wait {wait} seconds and try again.",
                {"Retry-After": str(wait)},
            )


async def _read_selfie(request: Request, settings: Settings, key: bytes, link: OpenLink) -> Selfie:
    body = await _read_upload(request, settings.upload_max_bytes)
    if body is None:
        raise Refusal(
            413,
            "too_large",
            f"This picture is too large to send (over {settings.upload_max_bytes // 1_000_000}"
            " MB): take a new selfie, or choose a smaller photo.",
        )
    request._body = body  # the form parser reads the body kept here, in memory
    try:
        form = await request.form(max_files=2, max_fields=40)
    except Exception:
        raise Refusal(400, "bad_form", "The picture did not arrive: please choose it again.") from None
    data, name = b"", "selfie"
    for f in [f for f in form.getlist("selfie") if hasattr(f, "read")]:  # the camera's input, or the gallery's
        data = await f.read()
        name = (f.filename or "selfie").rsplit("/", 1)[-1][:100]
        if data:
            break
    await form.close()
    if not data:
        raise Refusal(
            400, "empty", "No picture arrived (the file is empty): take a selfie or choose a photo of yourself."
        )
    index = form.get("face_index")

    def faces(field: str) -> list[str]:
        return [v for v in (unsigned(key, str(c), link.link_id, "face") for c in form.getlist(field)) if v]

    return Selfie(
        name,
        data,
        int(index) if isinstance(index, str) and index.isdigit() else None,
        faces("confirmed"),
        set(faces("declined")),
    )


def _refusal(exc: Exception, settings: Settings, link: OpenLink) -> Refusal:
    """What the participant reads when the lookup could not be answered."""
    if isinstance(exc, NoFaceInReference):
        return Refusal(
            422,
            "no_face",
            "We could not find a face in this picture. Face the camera, in good light, "
            "with your face filling a good part of the picture, and try again.",
        )
    if isinstance(exc, PhotoRejected) and exc.reason == "too_many_pixels":
        return Refusal(
            413,
            "too_many_pixels",
            f"This picture has too many pixels (more than "
            f"{settings.max_image_pixels // 1_000_000} megapixels): take a selfie, or choose a smaller photo.",
        )
    if isinstance(exc, PhotoRejected):
        return Refusal(
            400,
            "not_a_photo",
            "This file is not a photo we can read. Choose a JPEG, PNG or WebP photo "
            "of yourself (HEIC where the server supports it).",
        )
    if isinstance(exc, NoVectors):
        return Refusal(200, "no_photos", "The photos of this event are not available any more.")
    if isinstance(exc, SystemFault):
        log.exception("lookup link=%s failed: service fault", link.link_id)
        return Refusal(
            503,
            "unavailable",
            "The photo service is not available right now: please try again in a minute.",
            {"Retry-After": "30"},
        )
    log.info("lookup link=%s refused: %s", link.link_id, type(exc).__name__)
    return Refusal(400, "refused", "This picture can not be searched: try another selfie.")


async def find(request: Request) -> Response:
    served = _served(request)
    token = request.path_params["token"]
    fragment = request.headers.get("x-requested-with") == "fetch"
    started = time.perf_counter()
    link = await _open(request)
    if link is None:
        return not_found(served)

    def answer(status: int, *, outcome: str, headers: dict | None = None, **context) -> HTMLResponse:
        # Logged: which link, what came out, how long it took. No image data, no token, no name.
        log.info(
            "lookup link=%s outcome=%s photos=%d candidates=%d status=%d ms=%.0f",
            link.link_id,
            outcome,
            len(context.get("photos") or ()),
            len(context.get("candidates") or ()),
            status,
            (time.perf_counter() - started) * 1000,
        )
        response = render(
            served,
            "results.html" if fragment else "page.html",
            status,
            link=link,
            token=token,
            answer=outcome,
            **context,
        )
        response.headers.update(headers or {})
        return response

    key = url_key(served.store)
    try:
        _check_rate(served, request, link)
        selfie = await _read_selfie(request, served.settings, key, link)
        lookup_request = P.participant_request(
            link,
            (selfie.name, selfie.data),
            face_index=selfie.face_index,
            confirmed_faces=selfie.confirmed,
            declined=len(selfie.declined),
        )
        selfie.data = b""  # nothing of the selfie outlives the lookup but the request
        try:
            result = await anyio.to_thread.run_sync(
                lookup, served.settings, served.store, lookup_request, limiter=served.limiter
            )
        except AmbiguousReference as exc:
            faces = [_data_uri(img) for img in P.selfie_faces(exc.photo, exc.faces)] if exc.photo else []
            return answer(
                200,
                outcome="which_face",
                faces=faces,
                message=f"There are {len(exc.faces)} faces in this picture. Which one is you?",
            )
        except FacePipelineError as exc:
            raise _refusal(exc, served.settings, link) from None
    except Refusal as r:
        return answer(r.status, outcome=r.outcome, headers=r.headers, message=r.message)
    photos = [_photo_urls(served, key, token, link, m) for m in result.matches]
    candidates = [
        _photo_urls(served, key, token, link, m) for m in result.candidates if m.face_id not in selfie.declined
    ][: P.CANDIDATES_ASKED]
    for c in candidates:
        c.confirm = signed(key, c.match.face_id, link.link_id, "face")
    return answer(
        200,
        outcome="found" if photos else "none",
        photos=photos,
        candidates=candidates,
        advice=P.selfie_advice(result.references[0]) if result.references else [],
        person_name=result.person_name,
        face_index=selfie.face_index,
        zip_url=_zip_url(key, token, link, result.matches) if photos else "",
    )


# ---------------------------------------------------------------- pictures


async def _signed_link(request: Request, purpose: str, signed_part: str) -> OpenLink | None:
    """The link of a picture or zip URL, or None (the answer is then "not found"): the link opens now,
    the URL's `until` has not passed, and its `sig` signs `signed_part`/until for this link and purpose."""
    link = await _open(request)
    q = request.query_params
    until, sig = q.get("until", ""), q.get("sig", "")
    if (
        link is None
        or not until.isdigit()
        or int(until) < time.time()
        or not verify(url_key(_served(request).store), sig, f"{signed_part}/{until}", link.link_id, purpose)
    ):
        return None
    return link


async def photo(request: Request) -> Response:
    served = _served(request)
    p = request.path_params
    event, photo_id, kind = p["event"], p["photo_id"], p["kind"]
    box = request.query_params.get("box", "")
    link = await _signed_link(request, "photo", f"{event}/{photo_id}/{box}")
    if link is None or kind not in ("thumb", "full", "download") or event not in link.events:
        return not_found(served)
    stored = await anyio.to_thread.run_sync(P.stored_photo, served.store, event, photo_id)
    if stored is None:
        return not_found(served)
    headers = {"Cache-Control": "private, max-age=3600"}
    try:
        if kind == "thumb":
            face = tuple(int(v) for v in box.split(",")) if box else None
            data = await anyio.to_thread.run_sync(P.thumbnail_jpeg, served.settings, stored, face)
            return Response(data, media_type="image/jpeg", headers=headers)
        data = await anyio.to_thread.run_sync(P.photo_bytes, served.settings, stored)
    except (OSError, FacePipelineError):
        return not_found(served)  # moved or deleted since it was ingested
    if kind == "download":
        headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(stored.file_name)}"
    return Response(data, media_type=_media_type(stored.file_name), headers=headers)


def _media_type(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


async def zip_all(request: Request) -> Response:
    served = _served(request)
    items = request.query_params.get("items", "")
    link = await _signed_link(request, "zip", items)
    if link is None or not items:
        return not_found(served)
    by_event: dict[str, list[str]] = {}
    for event, _, photo_id in (i.partition(":") for i in items.split(",")):
        if event in link.events and photo_id:
            by_event.setdefault(event, []).append(photo_id)
    photos = []
    for event, ids in by_event.items():  # one query per event, not per photo
        photos += await anyio.to_thread.run_sync(P.stored_photos, served.store, event, ids)
    if not photos:
        return not_found(served)
    stamp = time.strftime("%Y%m%d")
    return StreamingResponse(
        P.zip_stream(served.settings, photos),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="my-photos-{stamp}.zip"', "Cache-Control": "no-store"},
    )


# ---------------------------------------------------------------- probes and errors


async def livez(request: Request) -> Response:
    return PlainTextResponse("ok")


async def readyz(request: Request) -> Response:
    """Ready when the database answers and holds the share-link tables (migrations applied)."""
    served = _served(request)

    def check() -> bool:
        with served.store.connect() as conn:
            conn.execute(statement("liveness_probe")).fetchone()
            return bool(named_row(conn, statement("relation_exists"), {"name": "share_links"})["found"])

    try:
        ok = await anyio.to_thread.run_sync(check)
    except Exception as exc:  # noqa: BLE001 - not ready, whatever the reason; the probe says which
        return PlainTextResponse(f"database not reachable: {type(exc).__name__}", status_code=503)
    return PlainTextResponse("ready" if ok else "database not migrated", status_code=200 if ok else 503)


async def _not_found_handler(request: Request, exc) -> Response:
    return not_found(request.app.state.served)


async def _service_unavailable(request: Request, exc) -> Response:
    """The database (or another service) is down: say so, and when to try again."""
    log.warning("request refused: service fault (%s)", type(exc).__name__)
    response = render(
        request.app.state.served,
        "message_page.html",
        503,
        message="The photo service is not available right now: please try again in a minute.",
    )
    response.headers["Retry-After"] = "30"
    return response


async def _server_error(request: Request, exc) -> Response:
    log.exception("request failed: %s %s", request.method, request.url.path.split("/")[1] if request.url.path else "")
    return render(
        request.app.state.served,
        "message_page.html",
        500,
        message="Something went wrong on our side: please try again.",
    )


class SecurityHeaders:
    """Adds the headers of SECURITY_HEADERS to every response (pages, pictures, errors, statics)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers += [
                    (k.lower().encode(), v.encode())
                    for k, v in SECURITY_HEADERS.items()
                    if k.lower().encode() not in present
                ]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def warm_up(settings: Settings, store: VectorStore) -> None:
    """Load the detector and the serving embedders (their sessions open on first use) on the shipped
    demo portrait, before the first selfie arrives, so that the first participant does not pay for it."""
    from face_pipeline.lib.bundled_files import demo_dir
    from face_pipeline.lib.models import embedder_for_model_id
    from face_pipeline.lib.search import load_reference

    ref = load_reference(settings, demo_dir() / "reference" / "mastracchio_portrait.jpg")
    for model_id in sorted(set(store.serving_models().values())):
        try:
            embedder = embedder_for_model_id(model_id, settings.model_folders)
            embedder.embed([embedder.crop(ref.photo.rgb, ref.face)])
        except FacePipelineError as exc:
            log.warning("model %s of a stored event is not available here: %s", model_id, exc)
    url_key(store)


def create_app(settings: Settings, store: VectorStore, *, warm: bool = True) -> Starlette:
    from face_pipeline.web.rate_limit import SlidingWindow

    # Uploads are parsed in memory: the selfie is never spooled to a temporary file on disk.
    MultiPartParser.spool_max_size = max(MultiPartParser.spool_max_size, settings.upload_max_bytes + 1)
    served = Served(
        settings,
        store,
        _templates(),
        anyio.CapacityLimiter(max(1, settings.worker_count())),
        SlidingWindow(),
        SlidingWindow(),
    )

    @asynccontextmanager
    async def lifespan(app):
        if warm:
            await anyio.to_thread.run_sync(warm_up, settings, store)
        log.info("participant page ready on %s", settings.public_url)
        yield

    app = Starlette(
        routes=[
            Route("/livez", livez),
            Route("/readyz", readyz),
            Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
            Route("/s/{token}", page),
            Route("/s/{token}/", page),
            Route("/s/{token}/find", find, methods=["POST"]),
            Route("/s/{token}/photo/{event}/{photo_id}/{kind}", photo),
            Route("/s/{token}/zip", zip_all),
        ],
        exception_handlers={
            404: _not_found_handler,
            405: _not_found_handler,
            SystemFault: _service_unavailable,
            500: _server_error,
        },
        lifespan=lifespan,
    )
    app.state.served = served
    app.add_middleware(SecurityHeaders)
    return app
