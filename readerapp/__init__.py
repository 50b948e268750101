"""readerapp: a fast, installable news site for readers on phones."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from . import (
    assets,
    caching,
    cli,
    config,
    extensions,
    media,
    pagecache,
    security,
    views,
)
from .views.templating import PageEnvironment


def create_app(
    overrides: Mapping[str, Any] | None = None, instance_path: str | Path | None = None
) -> Flask:
    """Build the reader site: settings, then extensions, then routes."""
    app = Flask(
        __name__,
        root_path=str(config.PROJECT_ROOT),
        instance_path=str(instance_path or config.PROJECT_ROOT / "instance"),
        instance_relative_config=True,
    )
    app.jinja_environment = PageEnvironment  # before anything makes it
    config.load(app, overrides)
    extensions.init_app(app)
    assets.init_app(app)
    security.init_app(app)
    caching.init_app(app)
    views.register(app)
    cli.init_app(app)
    pagecache.init_app(app)
    media.init_app(app)
    return app
