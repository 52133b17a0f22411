"""The chat page at ``/`` and the API docs, both served from files shipped in the package.

The page is plain HTML, CSS and ES modules (``api/web/``) that talk to the public API only; it
gets a strict Content-Security-Policy (no inline script, nothing from another origin). Swagger UI's
assets come from the ``swagger-ui-bundle-v2`` wheel, so the docs work with no network."""

from __future__ import annotations

from pathlib import Path

import swagger_ui_bundle
from litestar import Response, Router, get
from litestar.enums import MediaType
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.static_files import create_static_files_router

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
SWAGGER_DIR = Path(swagger_ui_bundle.swagger_ui_path)
STATIC_PREFIX = "/static"
SWAGGER_ASSETS = f"{STATIC_PREFIX}/swagger"
PUBLIC_PATHS = ["^/$", f"^{STATIC_PREFIX}/"]

PAGE_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@get("/", include_in_schema=False, sync_to_thread=False)
def chat_page() -> Response[bytes]:
    """Read per request: the file is small and an upgrade in place is picked up at once."""
    return Response((WEB_DIR / "index.html").read_bytes(), media_type=MediaType.HTML, headers=PAGE_HEADERS)


def web_routes() -> list[Router | object]:
    return [
        chat_page,
        create_static_files_router(path=SWAGGER_ASSETS, directories=[SWAGGER_DIR], name="swagger-assets"),
        create_static_files_router(path=STATIC_PREFIX, directories=[WEB_DIR], name="web"),
    ]


def swagger_plugin() -> SwaggerRenderPlugin:
    return SwaggerRenderPlugin(
        js_url=f"{SWAGGER_ASSETS}/swagger-ui-bundle.js",
        css_url=f"{SWAGGER_ASSETS}/swagger-ui.css",
        standalone_preset_js_url=f"{SWAGGER_ASSETS}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{SWAGGER_ASSETS}/favicon-32x32.png'>",
    )
