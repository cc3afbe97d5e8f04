"""Login to the reporting page through OpenID Connect: the authorization code flow with PKCE
(S256), a signed and encrypted session cookie, and logout at the identity provider too.

The OpenID Connect client is Authlib's (discovery, the authorization URL with its state, nonce
and code verifier, the code exchange, the ID token's signature and claims checked against the
provider's keys, the end-session URL): nothing here reads a JWT by hand. Sessions are
aiohttp-session's ``EncryptedCookieStorage`` (Fernet: authenticated, so signed, and encrypted),
HttpOnly, SameSite=Lax (the provider's redirect back is a top-level GET that must carry the
login's state), Secure when the page's public address is https, and they expire
``serve_session_max_age_s`` after login whatever happens meanwhile.

Every route but ``/auth/*`` and ``/healthz`` (which says "ok" and nothing else) needs a login:
a page request without one is sent to the login, anything else gets 401 JSON. Without
``VANPHONG_OIDC_ISSUER`` nothing here runs and the page is open, as before (and then
``vanphong serve`` binds only loopback unless ``--no-auth``: server.py)."""

from __future__ import annotations

import hashlib
import os
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

import orjson
from aiohttp import web
from aiohttp_session import get_session, new_session
from aiohttp_session import setup as setup_sessions
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from authlib.integrations.base_client import BaseApp, FrameworkIntegration, OAuthError
from authlib.integrations.base_client.async_app import AsyncOAuth2Mixin
from authlib.integrations.base_client.async_openid import AsyncOpenIDMixin
from authlib.integrations.httpx_client import AsyncOAuth2Client

from vanphong.ground.settings import Settings
from vanphong.reporting.page.viewer import ANONYMOUS, Viewer, viewer_from_claims

COOKIE = "vanphong_session"
VIEWER = "vanphong.viewer"  # request key: the Viewer of a logged-in request
EXPIRES_AT = "vanphong.expires_at"  # request key: when its session ends (time.time())
PUBLIC = ("/auth/", "/healthz")
DATA = ("/api/", "/static/")  # answer 401; any other GET is a page, sent to the login


class OidcUnavailable(Exception):
    """The identity provider could not be asked (one line for the operator)."""


class _OidcApp(AsyncOAuth2Mixin, AsyncOpenIDMixin, BaseApp):  # type: ignore[misc]
    """Authlib's OpenID Connect client, as its framework integrations build it."""

    client_cls = AsyncOAuth2Client


@dataclass(frozen=True)
class Auth:
    """The page's login: the provider's client and the session rules."""

    client: Any  # _OidcApp (Authlib is untyped)
    issuer: str
    public_url: str
    max_age_s: int

    def base(self, request: web.Request) -> str:
        return self.public_url.rstrip("/") or f"{request.scheme}://{request.host}"


AUTH: web.AppKey[Auth] = web.AppKey("auth", Auth)


def make_auth(settings: Settings) -> Auth:
    secret = settings.oidc_client_secret.get_secret_value()
    client = _OidcApp(
        FrameworkIntegration("vanphong"),
        name="vanphong",
        client_id=settings.oidc_client_id,
        client_secret=secret or None,
        server_metadata_url=settings.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={
            "scope": "openid profile",
            "code_challenge_method": "S256",
            "timeout": 10.0,
            **({} if secret else {"token_endpoint_auth_method": "none"}),
        },
    )
    return Auth(
        client, settings.oidc_issuer, settings.serve_public_url, settings.serve_session_max_age_s
    )


async def check_provider(auth: Auth) -> None:
    """Ask the provider for its discovery document once, so that a wrong issuer stops the page
    at start, not at the first login."""
    try:
        metadata = await auth.client.load_server_metadata()
    except Exception as exc:
        raise OidcUnavailable(
            f"the OpenID Connect provider {auth.issuer} did not answer its discovery document"
            f" ({type(exc).__name__}: {exc}); check VANPHONG_OIDC_ISSUER (the local stack's:"
            " `vanphong stack up --keycloak`)"
        ) from exc
    if not metadata.get("end_session_endpoint"):
        raise OidcUnavailable(f"{auth.issuer} names no end_session_endpoint: logout needs it")


def install(application: web.Application, auth: Auth, settings: Settings) -> None:
    """Sessions, the login requirement and the ``/auth/*`` routes on ``application``."""
    secret = settings.serve_session_secret.get_secret_value()
    key = hashlib.sha256(secret.encode()).digest() if secret else os.urandom(32)
    storage = EncryptedCookieStorage(
        key,  # 32 bytes: the Fernet key (aiohttp-session encodes it)
        cookie_name=COOKIE,
        max_age=auth.max_age_s,
        httponly=True,
        samesite="Lax",
        secure=auth.public_url.startswith("https://"),
        path="/",
        encoder=lambda value: orjson.dumps(value).decode(),
        decoder=orjson.loads,
    )
    application[AUTH] = auth
    setup_sessions(application, storage)
    application.middlewares.append(require_login)
    application.router.add_get("/auth/login", login)
    application.router.add_get("/auth/callback", callback)
    application.router.add_get("/auth/logout", logout)
    application.router.add_get("/auth/logged-out", logged_out)


def viewer_of(request: web.Request) -> Viewer:
    """Who sent the request (anonymous when the page runs without a login)."""
    viewer = request.get(VIEWER)
    return viewer if isinstance(viewer, Viewer) else ANONYMOUS


def expires_at(request: web.Request) -> float:
    """When the request's session ends (never, without a login)."""
    return float(request.get(EXPIRES_AT, float("inf")))


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _refusal(request: web.Request) -> web.StreamResponse:
    if request.method == "GET" and not request.path.startswith(DATA):
        target = request.path_qs
        raise web.HTTPFound("/auth/login?" + urllib.parse.urlencode({"next": target}))
    body = {
        "error": {
            "code": "login_required",
            "field": "",
            "value": "",
            "message": "Cần đăng nhập / login required: /auth/login",
        }
    }
    return web.Response(
        body=orjson.dumps(body), status=401, content_type="application/json", charset="utf-8"
    )


@web.middleware
async def require_login(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A request from a live session goes on with its :class:`Viewer`; any other is refused."""
    if request.path.startswith(PUBLIC):
        return await handler(request)
    session = await get_session(request)
    user = session.get("user")
    if not isinstance(user, dict) or float(session.get("expires_at", 0)) <= time.time():
        session.invalidate()
        return _refusal(request)
    try:
        request[VIEWER] = Viewer(**user)
    except TypeError:  # a cookie from another version of the page: log in again
        session.invalidate()
        return _refusal(request)
    request[EXPIRES_AT] = float(session["expires_at"])
    return await handler(request)


def _local(target: str | None) -> str:
    """Only a path of this site is a place to come back to (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


async def login(request: web.Request) -> web.StreamResponse:
    auth = request.app[AUTH]
    redirect_uri = auth.base(request) + "/auth/callback"
    try:
        started = await auth.client.create_authorization_url(redirect_uri)
    except Exception as exc:
        return _problem(503, f"Không liên lạc được máy chủ đăng nhập {auth.issuer}: {exc}")
    session = await new_session(request)
    session["login"] = {
        "state": started["state"],
        "nonce": started["nonce"],
        "code_verifier": started["code_verifier"],
        "redirect_uri": redirect_uri,
        "next": _local(request.query.get("next")),
    }
    raise web.HTTPFound(started["url"])


async def callback(request: web.Request) -> web.StreamResponse:
    auth = request.app[AUTH]
    session = await get_session(request)
    pending = session.get("login")
    if request.query.get("error"):
        return _problem(
            403,
            f"Máy chủ đăng nhập từ chối: {request.query.get('error')}"
            f" {request.query.get('error_description', '')}",
        )
    if not isinstance(pending, dict) or request.query.get("state") != pending.get("state"):
        return _problem(400, "Phiên đăng nhập không hợp lệ hoặc đã hết hạn: hãy đăng nhập lại.")
    try:
        token = await auth.client.fetch_access_token(
            pending["redirect_uri"],
            code=request.query.get("code", ""),
            code_verifier=pending["code_verifier"],
        )
        claims = await auth.client.parse_id_token(token, nonce=pending["nonce"])
    except OAuthError as exc:
        return _problem(403, f"Đăng nhập không thành công: {exc.error} {exc.description or ''}")
    if claims is None:
        return _problem(403, "Máy chủ đăng nhập không trả về ID token.")
    viewer = viewer_from_claims(claims)
    fresh = await new_session(request)  # a new cookie after login: no session fixation
    fresh["user"] = asdict(viewer)
    fresh["id_token"] = token["id_token"]
    fresh["expires_at"] = time.time() + auth.max_age_s
    raise web.HTTPFound(pending["next"])


async def logout(request: web.Request) -> web.StreamResponse:
    """End the page's session, then the provider's (RP-initiated logout), then come back."""
    auth = request.app[AUTH]
    session = await get_session(request)
    id_token = session.get("id_token")
    session.invalidate()
    back = auth.base(request) + "/auth/logged-out"
    try:
        ended = await auth.client.create_logout_url(
            post_logout_redirect_uri=back,
            id_token_hint=id_token,
            client_id=auth.client.client_id,
        )
    except Exception:
        raise web.HTTPFound("/auth/logged-out") from None
    raise web.HTTPFound(ended["url"])


LOGGED_OUT = """<!doctype html><html lang="vi"><head><meta charset="utf-8">
<title>Đã đăng xuất – vanphong</title></head>
<body data-state="logged-out"><h1>Đã đăng xuất</h1>
<p>Bạn đã đăng xuất khỏi trang báo cáo và khỏi máy chủ đăng nhập.</p>
<p><a id="login" href="/auth/login">Đăng nhập lại</a></p></body></html>
"""


async def logged_out(request: web.Request) -> web.StreamResponse:
    return web.Response(text=LOGGED_OUT, content_type="text/html", charset="utf-8")


def _problem(status: int, message: str) -> web.Response:
    html = (
        '<!doctype html><html lang="vi"><head><meta charset="utf-8"><title>vanphong</title>'
        f'</head><body data-state="auth-error"><p id="problem">{_escape(message)}</p>'
        '<p><a href="/auth/login">Đăng nhập lại</a></p></body></html>'
    )
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
