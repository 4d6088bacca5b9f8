from kolibri.plugins import KolibriPluginBase


class EventauthKolibriPlugin(KolibriPluginBase):
    """Trust eventauth's sessions (the `kolibri` cookie) in Kolibri.

    ``django_settings`` places the middleware (see settings.py); the
    middleware does the rest.
    """

    django_settings = "settings"
