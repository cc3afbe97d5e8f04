"""A small async client of a Schema Registry's Confluent API (``VANPHONG_SCHEMA_REGISTRY_URL``).

The worker needs one call: the writer schema of a Confluent-framed message's id
(``GET /schemas/ids/{id}``), cached for the life of the process (a registry never changes what
an id names). ``vanphong init`` and ``vanphong schemas check`` use the subject calls.

Failures are typed for the worker's one path: a registry that does not answer (refused, timed
out, 5xx, 429, a 401/403 or a 404 that is not the registry's "not found") is a
:class:`~vanphong.core.rejection.TransientError`, retried and never dead-lettered, since the
message is not at fault; only the registry's own "schema not found" (``error_code`` 40403) makes
an id unknown (:meth:`SchemaRegistryClient.schema_by_id` returns None), so a wrong URL never
dead-letters good messages.

The URL is the Confluent API's root: Apicurio Registry serves it at ``/apis/ccompat/v7``
(``http://127.0.0.1:8081/apis/ccompat/v7`` for the local stack), Confluent's own at ``/``.
"""

from __future__ import annotations

import json
import ssl
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from vanphong.core.rejection import TransientError
from vanphong.ground.settings import Settings

if TYPE_CHECKING:  # aiohttp takes a sixth of a second to import: only when a request is made
    import aiohttp

__all__ = ["SCHEMA_NOT_FOUND", "SUBJECT_NOT_FOUND", "RegistryError", "SchemaRegistryClient"]

SCHEMA_NOT_FOUND = 40403
SUBJECT_NOT_FOUND = 40401
VERSION_NOT_FOUND = 40402
CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class RegistryError(RuntimeError):
    """The registry answered a request with an error that retrying will not change (a schema
    it refuses, an invalid compatibility level): ``status`` and ``error_code`` say which."""

    def __init__(self, message: str, status: int, error_code: int | None) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code


class SchemaRegistryClient:
    """One registry, one ``aiohttp`` session (opened on first use, in the running loop)."""

    def __init__(
        self,
        url: str,
        *,
        username: str = "",
        password: str = "",
        ca_file: str = "",
        timeout_s: float = 10.0,
    ) -> None:
        self.url = url.rstrip("/")
        self._credentials = (username, password) if username else None
        self._ssl: ssl.SSLContext | None = (
            ssl.create_default_context(cafile=ca_file) if ca_file else None
        )
        self._timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None
        self._schemas: dict[int, str] = {}  # id → schema text: an id never changes meaning

    @classmethod
    def from_settings(cls, settings: Settings) -> SchemaRegistryClient | None:
        """The client of ``VANPHONG_SCHEMA_REGISTRY_URL``, or None when it is not set."""
        if not settings.schema_registry_url:
            return None
        return cls(
            settings.schema_registry_url,
            username=settings.schema_registry_username,
            password=settings.schema_registry_password.get_secret_value(),
            ca_file=settings.schema_registry_ca_file,
            timeout_s=settings.schema_registry_timeout_s,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> SchemaRegistryClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- the worker's call ---------------------------------------------------------------------

    def cached(self, schema_id: int) -> str | None:
        """The schema text of an id looked up before, without I/O."""
        return self._schemas.get(schema_id)

    async def schema_by_id(self, schema_id: int) -> str | None:
        """The writer schema (JSON text) that ``schema_id`` names, or None if the registry does
        not know the id; raises ``TransientError`` when the registry does not answer."""
        known = self._schemas.get(schema_id)
        if known is not None:
            return known
        status, body = await self._request("GET", f"/schemas/ids/{schema_id}")
        if status == 404 and _error_code(body) == SCHEMA_NOT_FOUND:
            return None
        if status != 200 or not isinstance(body, dict) or not isinstance(body.get("schema"), str):
            raise TransientError(self._unexpected("GET", f"/schemas/ids/{schema_id}", status, body))
        text = str(body["schema"])
        self._schemas[schema_id] = text
        return text

    # -- subjects (vanphong init, vanphong schemas check) --------------------------------------

    async def register(self, subject: str, schema: str) -> int:
        """Register ``schema`` under ``subject`` (a no-op returning the same id if it is there)."""
        body = await self._ok("POST", f"/subjects/{_q(subject)}/versions", {"schema": schema})
        return int(body["id"])

    async def lookup(self, subject: str, schema: str) -> int | None:
        """The id of ``schema`` if ``subject`` holds it, else None (never registers)."""
        path = f"/subjects/{_q(subject)}"
        status, body = await self._request("POST", path, {"schema": schema})
        if status == 404 and _error_code(body) in (SUBJECT_NOT_FOUND, SCHEMA_NOT_FOUND):
            return None
        return int(self._checked("POST", path, status, body)["id"])

    async def set_compatibility(self, subject: str, level: str) -> None:
        await self._ok("PUT", f"/config/{_q(subject)}", {"compatibility": level})

    async def compatibility(self, subject: str) -> str | None:
        """The subject's own compatibility level, or None when it has none set."""
        path = f"/config/{_q(subject)}"
        status, body = await self._request("GET", path)
        if status == 404:
            return None
        body = self._checked("GET", path, status, body)
        level = body.get("compatibilityLevel") or body.get("compatibility")
        return str(level) if level else None

    async def latest(self, subject: str) -> dict[str, Any] | None:
        """The subject's latest version (``version``, ``id``, ``schema``), or None if it has
        none."""
        path = f"/subjects/{_q(subject)}/versions/latest"
        status, body = await self._request("GET", path)
        if status == 404 and _error_code(body) in (SUBJECT_NOT_FOUND, VERSION_NOT_FOUND):
            return None
        return self._checked("GET", path, status, body)

    async def versions(self, subject: str) -> list[int]:
        path = f"/subjects/{_q(subject)}/versions"
        status, body = await self._request("GET", path)
        if status == 404 and _error_code(body) == SUBJECT_NOT_FOUND:
            return []
        if status != 200 or not isinstance(body, list):
            raise TransientError(self._unexpected("GET", path, status, body))
        return [int(v) for v in body]

    async def is_compatible(self, subject: str, schema: str) -> bool:
        """The registry's verdict on ``schema`` against the subject's latest version, under the
        subject's compatibility level."""
        body = await self._ok(
            "POST",
            f"/compatibility/subjects/{_q(subject)}/versions/latest",
            {"schema": schema},
        )
        return bool(body.get("is_compatible"))

    # -- plumbing ------------------------------------------------------------------------------

    async def _ok(self, method: str, path: str, payload: Any = None) -> dict[str, Any]:
        status, body = await self._request(method, path, payload)
        return self._checked(method, path, status, body)

    def _checked(self, method: str, path: str, status: int, body: Any) -> dict[str, Any]:
        if status == 200 and isinstance(body, dict):
            return body
        if 400 <= status < 500 and status not in (401, 403, 404, 429):
            message = body.get("message") if isinstance(body, dict) else body
            raise RegistryError(
                f"the Schema Registry refused {method} {self.url}{path}: HTTP {status}: {message}",
                status,
                _error_code(body),
            )
        raise TransientError(self._unexpected(method, path, status, body))

    def _unexpected(self, method: str, path: str, status: int, body: Any) -> str:
        text = json.dumps(body) if not isinstance(body, str) else body
        hint = ""
        if status in (401, 403):
            hint = " (check VANPHONG_SCHEMA_REGISTRY_USERNAME and _PASSWORD)"
        elif status == 404:
            hint = (
                " (is VANPHONG_SCHEMA_REGISTRY_URL the root of the Confluent API, e.g. "
                "http://host:8081/apis/ccompat/v7 for Apicurio?)"
            )
        return (
            f"the Schema Registry at {self.url} answered {method} {path} with HTTP {status}"
            f"{hint}: {text[:300]}"
        )

    async def _request(self, method: str, path: str, payload: Any = None) -> tuple[int, Any]:
        """One request: (status, JSON body or text); raises ``TransientError`` if the registry
        cannot be reached or answers 5xx/429."""
        import aiohttp

        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout_s),
                auth=aiohttp.BasicAuth(*self._credentials) if self._credentials else None,
                headers={"Accept": CONTENT_TYPE},
            )
        url = f"{self.url}{path}"
        try:
            async with self._session.request(
                method,
                url,
                json=payload,
                headers={"Content-Type": CONTENT_TYPE} if payload is not None else None,
                ssl=self._ssl if self._ssl is not None else True,
            ) as response:
                text = await response.text()
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise TransientError(
                f"the Schema Registry at {self.url} is unreachable ({method} {path}): "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        try:
            body: Any = json.loads(text) if text else None
        except ValueError:
            body = text
        if status >= 500 or status == 429:
            raise TransientError(self._unexpected(method, path, status, body))
        return status, body


def _q(subject: str) -> str:
    return quote(subject, safe="")


def _error_code(body: Any) -> int | None:
    code = body.get("error_code") if isinstance(body, dict) else None
    return int(code) if isinstance(code, int) else None
