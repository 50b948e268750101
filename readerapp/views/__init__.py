"""The site's blueprints, attached to the app."""

from __future__ import annotations

from flask import Flask

from . import (
    api,
    feeds,
    fragments,
    health,
    news,
    offline,
    pictures,
    sitemaps,
    templating,
)


def register(app: Flask) -> None:
    """Attach every blueprint and the template helpers to the app."""
    app.register_blueprint(news.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(offline.bp)
    app.register_blueprint(feeds.bp)
    app.register_blueprint(sitemaps.bp)
    app.register_blueprint(health.bp)
    news.register_errors(app)
    health.register_outage_handler(app)
    templating.init_app(app)
    fragments.init_app(app)
    pictures.init_app(app)
    app.add_template_global(feeds.feed_links)
