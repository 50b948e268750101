"""Parts of pages that many pages share, rendered once per process.

Every article page carries the same site header, navigation and footer, and its
"Latest from" and "Don't miss" cards are the same few stories for every article of
a section (issue #16). A macro called with the same arguments renders the same
markup, so `fragment` renders each distinct call once and then reuses it. The
arguments are the whole key: a macro rendered this way must depend on nothing but
its arguments (which must be hashable), the app's settings and the address it is
served under. In debug mode templates and static files change under a running
server, so nothing is kept.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app
from flask.globals import _cv_request
from markupsafe import Markup

from ..media import saving_data

# Distinct fragments kept per app before starting again: cards for the newest
# stories of every section, and a header per section.
KEPT_FRAGMENTS = 8192
# Where a request keeps what its fragments' markup depends on besides their
# arguments: the path the site is mounted under, and whether the reader saves data.
_SERVED_AS = "readerapp.fragments.served_as"


def macros(template: str) -> Any:
    """Return a macro template's module, made once: `{% from ... import %}` makes
    it again on every render when the context carries request globals."""
    environment = current_app.jinja_env
    if environment.auto_reload:  # templates edited under a running server
        return environment.get_template(template).module
    # Jinja's own lookup (loader, LRU cache and its lock) costs 2% of a page (#16).
    kept = current_app.extensions["readerapp.macro_modules"]
    module = kept.get(template)
    if module is None:
        module = kept[template] = environment.get_template(template).module
    return module


def fragment(template: str, macro: str, *args: Any, **options: Any) -> Markup:
    """Return `macro(*args, **options)` from `template`, rendered once per process."""
    # Every page asks for several: the request's own context, looked up once for
    # each rather than through Flask's proxies.
    context = _cv_request.get()
    app = context.app
    if app.debug:
        return _render(template, macro, args, options)
    environ = context.request.environ
    served_as = environ.get(_SERVED_AS)
    if served_as is None:
        served_as = environ[_SERVED_AS] = (
            environ.get("SCRIPT_NAME", ""),
            # Pictures are offered in smaller widths to readers saving data.
            saving_data(environ.get("HTTP_SAVE_DATA"), environ.get("HTTP_ECT")),
        )
    # Keyword order is each call site's own, so the same call is found again.
    key = (template, macro, served_as, args, tuple(options.items()))
    kept = app.extensions["readerapp.fragments"]
    markup = kept.get(key)
    if markup is None:
        markup = _render(template, macro, args, options)
        if len(kept) >= KEPT_FRAGMENTS:
            kept.clear()
        kept[key] = markup
    return markup


def _render(
    template: str, macro: str, args: tuple[Any, ...], options: dict[str, Any]
) -> Markup:
    return getattr(macros(template), macro)(*args, **options)


def init_app(app: Flask) -> None:
    """Make `fragment` and `macros` available to every template."""
    app.extensions["readerapp.fragments"] = {}
    app.extensions["readerapp.macro_modules"] = {}
    app.add_template_global(fragment)
    app.add_template_global(macros)
