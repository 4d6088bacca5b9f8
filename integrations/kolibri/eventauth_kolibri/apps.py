import logging

from django.apps import AppConfig

logger = logging.getLogger(__name__)


class EventauthKolibriConfig(AppConfig):
    name = "eventauth_kolibri"
    label = "eventauth_kolibri"
    verbose_name = "eventauth sessions for Kolibri"
    default = True

    def ready(self):
        from django.conf import settings

        from . import config
        from .settings import MIDDLEWARE_PATH

        if MIDDLEWARE_PATH not in settings.MIDDLEWARE:
            logger.error(
                "eventauth_kolibri is enabled but %s is not in MIDDLEWARE "
                "(a custom DJANGO_SETTINGS_MODULE replaced Kolibri's list?): "
                "eventauth sessions are not trusted",
                MIDDLEWARE_PATH,
            )
        config.load()  # fail at start-up, not on the first request, if misconfigured
