"""The labeling page: FastAPI routes, server-rendered Jinja2 pages, one small script for the keyboard.

Routes: ``GET /`` the batch (``?tab=ID``: each browser tab leases its own images), ``GET /image/ID``
and ``GET /files/PATH`` an image of the dataset (nothing else is ever served from disk), ``GET /full/ID``
the same at the file's own resolution (the large view), ``GET /cam/ID`` its GradCAM overlay,
``POST /api/label``, ``/api/undo``, ``/api/submit``, ``/api/release``, ``GET /api/status``. Every body is
validated (pydantic, unknown keys refused); errors are JSON ``{"detail": "..."}`` (a page in words with a
link back for a browser's GET): 400 an action not allowed, 401 no token, 404 an unknown image or round,
409 a conflict (another page came first, a double submit), 422 a malformed body.
"""
from __future__ import annotations

import errno
import html
import logging
import socket
import threading
from collections import OrderedDict
from pathlib import Path, PurePosixPath
from typing import Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ConfigDict, Field

from alflow.label.render import cam_png, image_png
from alflow.label.session import LabelSession
from alflow.label.status import curve_svg
from alflow.label.store import AUDIT_ROUND, BadRequest, Conflict, NotFound

log = logging.getLogger("alflow")
HERE = Path(__file__).resolve().parent
TAB = r"^[A-Za-z0-9_-]{1,64}$"
NAME = r"^[^\x00-\x1f\x7f]{1,80}$"  # the inspector's name as the page asked it: no control characters
EARLIER = 64  # submitted images shown below the batch for corrections
FULL_PX = 4096  # the large view's longest side: the file's own pixels up to this


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class LabelBody(_Body):
    image_id: int = Field(ge=0)
    label: Literal["defect", "good", "unsure"]
    version: int = Field(ge=0)
    tab: str = Field(pattern=TAB)
    seconds: float = Field(ge=0, le=86_400)
    inspector: str | None = Field(default=None, pattern=NAME)  # the page's name; None: label.inspector


class UndoBody(_Body):
    image_id: int = Field(ge=0)
    version: int = Field(ge=1)
    tab: str = Field(pattern=TAB)
    inspector: str | None = Field(default=None, pattern=NAME)


class ReleaseBody(_Body):
    tab: str = Field(pattern=TAB)


class SubmitBody(_Body):
    round: int = Field(ge=AUDIT_ROUND)
    tab: str = Field(pattern=TAB)
    image_ids: list[int] = Field(min_length=1, max_length=100_000)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        got = f" (got {err['input']!r})" if "input" in err and not isinstance(err["input"], dict) else ""
        parts.append(f"{where}: {err.get('msg', 'invalid')}{got}")
    return "; ".join(parts)


def create_app(session: LabelSession) -> FastAPI:
    """The page and its API for ``session``."""
    settings, store = session.settings, session.store
    app = FastAPI(title="alflow label", docs_url=None, redoc_url=None, openapi_url=None)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    cache: OrderedDict[int, bytes] = OrderedDict()
    cache_lock = threading.Lock()

    @app.middleware("http")
    async def require_token(request: Request, call_next):
        if settings.token:
            given = (request.headers.get("x-alflow-token") or request.cookies.get("alflow_token")
                     or request.query_params.get("token"))
            if given != settings.token:
                return JSONResponse({"detail": "this session needs its token: open the address printed by "
                                               "alflow label (it carries ?token=...)"}, status_code=401)
            response = await call_next(request)
            if request.query_params.get("token"):
                response.set_cookie("alflow_token", settings.token, httponly=True, samesite="strict")
            return response
        return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        return _error(request, _validation_message(exc), 422)

    @app.exception_handler(Conflict)
    async def conflict(request: Request, exc: Conflict):
        return _error(request, str(exc), 409)

    @app.exception_handler(BadRequest)
    async def bad(request: Request, exc: BadRequest):
        return _error(request, str(exc), 404 if isinstance(exc, NotFound) else 400)

    def image_response(image_id: int, full: bool = False) -> Response:
        rel = PurePosixPath(store.path_of(image_id))
        if rel.is_absolute() or ".." in rel.parts:  # a stored path that leaves the root is never opened
            raise NotFound(f"image id {image_id} points outside dataset.root")
        path = session.root / rel  # as the dataset lists it: a linked sub-folder is part of the dataset
        key = -1 - image_id if full else image_id
        with cache_lock:
            data = cache.get(key)
        if data is None:
            data = image_png(path, FULL_PX if full else settings.image_px)
            with cache_lock:
                cache[key] = data
                while len(cache) > 1024:
                    cache.popitem(last=False)
        return Response(data, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})

    @app.get("/image/{image_id}")
    def image(image_id: int) -> Response:
        return image_response(image_id)

    @app.get("/full/{image_id}")
    def full(image_id: int) -> Response:
        """The large view's image: the file's own resolution (longest side at most FULL_PX)."""
        return image_response(image_id, full=True)

    @app.get("/files/{path:path}")
    def file(path: str) -> Response:
        rel = PurePosixPath(path)
        if rel.is_absolute() or ".." in rel.parts or "\\" in path or not path:
            raise BadRequest(f"{path!r} is not a path inside dataset.root: absolute paths and '..' are refused")
        return image_response(store.id_of(rel.as_posix()))

    @app.get("/cam/{image_id}")
    def cam(image_id: int) -> Response:
        store.path_of(image_id)
        values = session.cam(image_id)
        if values is None:
            raise NotFound(f"image {image_id} has no GradCAM map: it was picked before any model was trained")
        return Response(cam_png(values), media_type="image/png")

    @app.get("/", response_class=HTMLResponse)
    def page(request: Request, tab: str | None = None):
        status = session.status()
        cards, open_round, elsewhere = [], status["open_round"], 0
        if tab is not None:
            if not _valid_tab(tab):
                raise BadRequest(f"tab {tab!r} must be 1-64 letters, digits, '-' or '_'")
            if open_round is not None:
                mine = set(store.claim(tab, open_round, settings.claim_size, settings.lease_seconds))
                cards = [_card(item, True, session) for item in store.batch(open_round) if item.image_id in mine]
                elsewhere = store.leased_elsewhere(open_round, tab)
            cards += [_card(item, False, session) for item in _earlier(store, open_round, status["rounds"])]
        return templates.TemplateResponse(request, "index.html", {
            "status": status, "cards": cards, "open_round": open_round, "elsewhere": elsewhere,
            "show_prediction": settings.show_prediction, "curve": curve_svg(status["curve"], status["knee"],
                                                                            status["pool"], status["defects"]),
            "round_name": _round_name(open_round)})

    @app.get("/api/status")
    def api_status(ids: str = "", tab: str | None = None) -> dict:
        """The panel's numbers; ``free``: images of the open batch no page holds; ``labels``: the current
        label and version of ``ids`` (comma-separated, the page's cards: an import shows at once). With
        ``tab`` (the polling page: it is alive): ``taken``, those of ``ids`` another tab took over, and
        ``shareable``, unlabeled images another tab holds that a reload would share."""
        status = session.status()
        status.pop("curve")
        status["free"] = store.free(status["open_round"])
        wanted = [int(i) for i in ids.split(",")[:1000] if i.isdigit()]
        status["labels"] = {str(i): [lab, v] for i, (lab, v) in store.labels_of(wanted).items()} if wanted else {}
        if tab is not None and _valid_tab(tab):
            store.seen(tab)
            status["taken"] = store.taken(wanted, tab)
            status["shareable"] = store.shareable(status["open_round"], tab)
            status["orphaned"] = store.orphaned(status["open_round"], tab)
            status["free"] += status["orphaned"]
        return status

    @app.post("/api/release")
    async def api_release(request: Request) -> dict:
        """A closing page's ``navigator.sendBeacon``: its images are free for another page at once."""
        try:
            body = ReleaseBody.model_validate_json(await request.body())
        except ValueError as exc:
            raise BadRequest(f"a release needs {{\"tab\": ID}}: {exc}") from None
        return {"released": store.release(body.tab)}

    @app.post("/api/label")
    def api_label(body: LabelBody) -> dict:
        version = store.set_label(body.image_id, body.label, body.version, inspector=_who(body, settings),
                                  tab=body.tab, seconds=body.seconds, lease_seconds=settings.lease_seconds)
        return {"image_id": body.image_id, "label": body.label, "version": version}

    @app.post("/api/undo")
    def api_undo(body: UndoBody) -> dict:
        label, version = store.undo(body.image_id, body.version, inspector=_who(body, settings), tab=body.tab)
        return {"image_id": body.image_id, "label": label, "version": version}

    @app.post("/api/submit")
    def api_submit(body: SubmitBody) -> dict:
        complete = store.submit(body.round, body.tab, body.image_ids)
        session.notify()
        return {"round": body.round, "complete": complete, "submitted": len(set(body.image_ids))}

    return app


def _error(request: Request, detail: str, status: int) -> Response:
    """JSON ``{"detail": ...}`` for the API and scripts; a page in words with a way back for a browser."""
    if not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", ""):
        text = html.escape(detail)
        return HTMLResponse(f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>alflow label: '
                            f'{status}</title><link rel="stylesheet" href="/static/label.css"></head><body>'
                            f'<div class="error-page"><h1>This address cannot be shown</h1><p class="error">{text}</p>'
                            f'<p><a id="back" href="/">Back to the labeling page</a></p></div></body></html>',
                            status_code=status)
    return JSONResponse({"detail": detail}, status_code=status)


def _who(body: LabelBody | UndoBody, settings) -> str:
    """The name recorded with a write: the one the page asked its inspector (kept in the browser), else
    ``label.inspector`` (a script posting without one)."""
    name = (body.inspector or "").strip()
    return name or settings.inspector


def _valid_tab(tab: str) -> bool:
    import re

    return re.fullmatch(TAB, tab) is not None


def _round_name(r: int | None) -> str:
    if r is None:
        return ""
    return "audit sample" if r == AUDIT_ROUND else f"round {r + 1}"


def _earlier(store, open_round: int | None, rounds: int) -> list:
    """The last submitted batch, newest round first: what a correction most often needs."""
    last = (open_round if open_round is not None else rounds) - 1
    while last >= AUDIT_ROUND:
        items = [item for item in store.batch(last) if item.submitted is not None]
        if items:
            return items[:EARLIER]
        last -= 1
    return []


def _card(item, open_: bool, session: LabelSession) -> dict:
    return {"id": item.image_id, "path": item.path, "rank": item.rank + 1, "label": item.label or "",
            "version": item.version, "prob": None if item.prob is None else f"{item.prob:.2f}",
            "cam": session.cam(item.image_id) is not None, "open": open_, "round": item.round,
            "round_name": _round_name(item.round)}


class PortUnavailable(ValueError):
    """``label.host``/``label.port`` cannot be served (in use, not allowed, not this machine's address)."""


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host``:``port`` (``port`` 0: a free one, chosen by the OS), bound before any
    address is printed. PortUnavailable naming ``label.port`` when the port is taken (another session,
    another program) or cannot be bound. SO_REUSEADDR as uvicorn's own: a restart is not refused for a
    closed connection of the last run, and Linux still refuses a port another socket listens on."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)  # uvicorn's backlog; listening here also refuses a port bound but not yet listened on
    except OSError as exc:
        sock.close()
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        if exc.errno == errno.EADDRINUSE:
            why = (f"{where} is in use (another alflow label or program serves on it): stop it, choose another "
                   "label.port, or label.port=0 for a free one")
        else:
            why = f"{where} cannot be served ({exc.strerror or exc}): check label.host and label.port"
        raise PortUnavailable(f"label.port={port}: {why}") from None
    return sock


def serve(session: LabelSession, sock: socket.socket | None = None) -> None:
    """Serve ``session`` until interrupted (Ctrl-C) on ``sock`` (``bind``'s; None: bound here first,
    PortUnavailable, nothing started, when it cannot), then print the address it serves (with
    ``label.port=0``, the port chosen). The socket is closed at the end."""
    import uvicorn

    settings = session.settings
    sock = sock if sock is not None else bind(settings.host, settings.port)
    try:
        port = sock.getsockname()[1]
        config = uvicorn.Config(create_app(session), host=settings.host, port=port, log_level="warning")
        server = uvicorn.Server(config)
        host = f"[{settings.host}]" if ":" in settings.host else settings.host
        query = f"?token={settings.token}" if settings.token else ""
        session.start()
        print(f"alflow label: open http://{host}:{port}/{query} (Ctrl-C stops; every label is kept)", flush=True)
        try:
            server.run(sockets=[sock])
        finally:
            session.close()
    finally:
        sock.close()
