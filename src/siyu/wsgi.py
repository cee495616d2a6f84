"""The WSGI application: Django's handler, with a short middleware chain for the machine endpoints.

WeCom and official-account callbacks (``/wecom/callback/``, ``/oa/callback/``) and Segment-compatible ingestion
(``/v1/``) are called by machines, signed or keyed, never with a cookie: sessions, locale, CSRF, authentication,
the actor, messages, HTMX and the API's rate limiter do nothing for them but cost time on every call (a fifth of a
WeCom callback's 3 ms in-process; at 200 callbacks/s on two cores that time is what decides whether acks queue).
Their chain keeps what still applies to any answer: the security headers, the deferred writes that run after a
rolled-back transaction, and the Host check against ``ALLOWED_HOSTS``.
"""

import os

from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler
from django.core.wsgi import get_wsgi_application
from django.utils.module_loading import import_string

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "siyu.settings")

MACHINE_PREFIXES = ("/wecom/callback/", "/oa/callback/", "/v1/")
MACHINE_MIDDLEWARE = (
    "django.middleware.security.SecurityMiddleware",
    "siyu.console.middleware.SecurityHeadersMiddleware",
    "siyu.kernel.deferred.DeferredWritesMiddleware",
    "django.middleware.common.CommonMiddleware",  # ALLOWED_HOSTS is checked here (get_host) for these paths
)


class MachineHandler(WSGIHandler):
    """Django's WSGI handler with :data:`MACHINE_MIDDLEWARE` instead of ``settings.MIDDLEWARE``.

    Django builds its chain only from ``settings.MIDDLEWARE``; this builds the same kind of chain (each layer
    wrapped by ``convert_exception_to_response``) from a fixed list of plain synchronous middlewares that have no
    ``process_view``/``process_exception`` hooks, which a test checks."""

    def load_middleware(self, is_async=False):
        self._view_middleware, self._template_response_middleware, self._exception_middleware = [], [], []
        handler = convert_exception_to_response(self._get_response)
        for path in reversed(MACHINE_MIDDLEWARE):
            handler = convert_exception_to_response(import_string(path)(handler))
        self._middleware_chain = handler


class ByPath:
    """Send machine endpoints to the short chain and everything else to Django's full one."""

    def __init__(self, default, machine, prefixes=MACHINE_PREFIXES):
        self.default, self.machine, self.prefixes = default, machine, tuple(prefixes)

    def __call__(self, environ, start_response):
        app = self.machine if environ.get("PATH_INFO", "").startswith(self.prefixes) else self.default
        return app(environ, start_response)


application = ByPath(get_wsgi_application(), MachineHandler())
