"""Django settings the plugin adds (Kolibri's plugin ``django_settings``).

Kolibri applies a plugin's settings module while its own settings module
(kolibri.deployment.default.settings.base) is being executed: list
settings such as AUTHENTICATION_BACKENDS are appended to, any other existing
setting may not be replaced (a ValueError: "use the Django settings module
env var"), and there is no hook for middleware. So this module inserts the
middleware into Kolibri's MIDDLEWARE list in place, right after Kolibri's
CustomAuthenticationMiddleware, when Kolibri loads it; it defines no
upper-case names of its own, so Kolibri's checks see nothing to apply.
A custom DJANGO_SETTINGS_MODULE that builds MIDDLEWARE from Kolibri's list
(as kolibri.deployment.default.settings.dev does) keeps the insertion; one
that replaces it must add MIDDLEWARE_PATH itself. The plugin's AppConfig
checks at start-up that the middleware is in place and logs an error if not.
"""

import sys

MIDDLEWARE_PATH = "eventauth_kolibri.middleware.EventauthSessionMiddleware"
AFTER = "kolibri.core.auth.middleware.CustomAuthenticationMiddleware"
KOLIBRI_SETTINGS = "kolibri.deployment.default.settings.base"


def insert(middleware):
    """Inserts the middleware into a MIDDLEWARE list (idempotent)."""
    if MIDDLEWARE_PATH in middleware:
        return middleware
    try:
        at = list(middleware).index(AFTER) + 1
    except ValueError:
        raise RuntimeError(
            "eventauth_kolibri: {} is not in MIDDLEWARE; cannot place {}".format(
                AFTER, MIDDLEWARE_PATH
            )
        )
    middleware.insert(at, MIDDLEWARE_PATH)
    return middleware


_kolibri_settings = sys.modules.get(KOLIBRI_SETTINGS)
if _kolibri_settings is not None and isinstance(
    getattr(_kolibri_settings, "MIDDLEWARE", None), list
):
    insert(_kolibri_settings.MIDDLEWARE)
