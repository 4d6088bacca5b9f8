"""The middleware: Kolibri's request.user from eventauth's session cookie.

Sits right after Kolibri's CustomAuthenticationMiddleware (so inside
KolibriSessionMiddleware). For a request whose ``kolibri`` cookie names a
live eventauth session it sets ``request.user`` to the mirrored
FacilityUser, before any view or Django REST framework authenticator looks
(DRF's SessionAuthentication reads ``request._request.user``, and enforces
CSRF for it with the ``kolibri_csrftoken`` cookie eventauth issued).

On the way out it marks the request session-exempt (Kolibri's own
``_session_exempt`` flag, which KolibriSessionMiddleware honours) whenever
the cookie is eventauth's, or is a cookie Kolibri's session store could not
read: Django would otherwise delete a cookie it cannot read, signing the
person out of eventauth, or overwrite it with a Django session key.
"""

import logging
import threading
import time

from django.conf import settings
from django.utils.cache import patch_vary_headers

from . import config as config_module
from . import mirror
from .client import Eventauth
from .client import Unavailable

logger = logging.getLogger(__name__)

SESSION_EXEMPT = "_session_exempt"  # kolibri.core.auth.middleware.SESSION_EXEMPT
EVENTAUTH_USER = "_eventauth_user"


class EventauthSessionMiddleware(object):
    def __init__(self, get_response, eventauth=None, conf=None):
        self.get_response = get_response
        self.conf = conf if conf is not None else config_module.load()
        if self.conf is None:
            logger.warning(
                "eventauth_kolibri is enabled but EVENTAUTH_URL is unset: "
                "Kolibri keeps to its own sessions"
            )
            self.eventauth = None
        else:
            self.eventauth = eventauth or Eventauth(self.conf)
        self._synced = {}  # user id -> monotonic time of the last fetch
        self._lock = threading.Lock()

    def __call__(self, request):
        cookie = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
        user = None
        if cookie and self.eventauth is not None:
            user = self.user_for(cookie)
            if user is not None:
                request.user = user
                request._cached_user = user
                setattr(request, EVENTAUTH_USER, True)
        response = self.get_response(request)
        if cookie:
            if user is not None:
                # Kolibri must neither save a Django session under this
                # cookie name nor delete eventauth's cookie.
                setattr(request, SESSION_EXEMPT, True)
                patch_vary_headers(response, ("Cookie",))
            elif _unreadable(request):
                setattr(request, SESSION_EXEMPT, True)
        return response

    def user_for(self, cookie):
        try:
            session = self.eventauth.session(cookie)
        except Unavailable as e:
            logger.warning("eventauth: %s; the request is anonymous", e)
            return None
        if session is None:
            return None
        return self.mirrored(cookie, session.user_id)

    def mirrored(self, cookie, user_id):
        now = time.monotonic()
        with self._lock:
            last = self._synced.get(user_id)
        user = mirror.local_user(user_id)
        if user is not None and last is not None and now - last < self.conf.user_sync_seconds:
            return user
        try:
            data = self.eventauth.facility_user(cookie, user_id)
        except Unavailable as e:
            logger.warning("eventauth: %s; using the local copy of %s", e, user_id)
            return user
        if data is None:
            # Active session, user not readable: keep what we have.
            logger.warning("eventauth would not show user %s to themselves", user_id)
            return user
        try:
            fresh = mirror.apply(data)
        except Exception:
            # e.g. two first requests of one user at once: the other one
            # created the row (the primary key refused this one)
            logger.exception("could not mirror eventauth user %s", user_id)
            return mirror.local_user(user_id)
        with self._lock:
            self._synced[user_id] = now
            if len(self._synced) > max(self.conf.cache_size, 1):
                for key in list(self._synced)[: len(self._synced) // 2]:
                    self._synced.pop(key, None)
        return fresh


def _unreadable(request):
    """The request sent a session cookie Kolibri's store did not know and
    nothing was put in the session since: Django would delete the cookie."""
    session = getattr(request, "session", None)
    if session is None:
        return False
    try:
        return bool(session.is_empty()) and not session.modified
    except AttributeError:
        return False
