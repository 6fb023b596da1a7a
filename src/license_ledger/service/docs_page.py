"""The API documentation page, served whole by the service itself: it loads offline.

One page, Swagger UI, at ``/schema`` and ``/schema/swagger``; its script,
style sheet and icon come from the ``swagger-ui-bundle-v2`` package (Swagger
UI's own files, Apache-2.0) under ``/schema/assets/``, never from a CDN. The
OpenAPI document itself is at ``/schema/openapi.json``.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.exceptions import NotFoundException
from litestar.openapi.plugins import OpenAPIRenderPlugin, SwaggerRenderPlugin
from litestar.response import File
from swagger_ui_bundle import swagger_ui_path

__all__ = ["ASSETS", "documentation_assets", "render_plugins"]

#: Where the page's files are served.
ASSETS = "/schema/assets"
#: The files the page loads, and their media types: nothing else is served.
_FILES = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui-standalone-preset.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}


class _OfflineSwagger(SwaggerRenderPlugin):
    """Swagger UI without its online validator badge (a request to another host)."""

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        page = super().render(request, openapi_schema)
        marker = b"dom_id: '#swagger-container',"
        assert marker in page, "Litestar's Swagger page changed: check validatorUrl"
        return page.replace(marker, marker + b"\n                  validatorUrl: null,", 1)


def render_plugins() -> list[OpenAPIRenderPlugin]:
    """The page of the documentation (the first plugin is also served at ``/schema``)."""
    return [
        _OfflineSwagger(
            path="/swagger",
            js_url=f"{ASSETS}/swagger-ui-bundle.js",
            css_url=f"{ASSETS}/swagger-ui.css",
            standalone_preset_js_url=f"{ASSETS}/swagger-ui-standalone-preset.js",
            favicon=f"<link rel='icon' type='image/png' href='{ASSETS}/favicon-32x32.png'>",
        )
    ]


@get(f"{ASSETS}/{{name:str}}", include_in_schema=False, sync_to_thread=False)
def documentation_assets(request: Request[Any, Any, Any]) -> File:
    """A file of the documentation page (no token needed, like the page)."""
    name = str(request.path_params["name"])
    media_type = _FILES.get(name)
    if media_type is None:
        raise NotFoundException()
    return File(
        path=swagger_ui_path / name, media_type=media_type, filename=name, content_disposition_type="inline"
    )
