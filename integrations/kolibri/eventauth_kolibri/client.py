"""Calls to eventauth (standard library only, no Django).

The session cookie is a bearer secret: it is sent to eventauth and nowhere
else, never logged, and kept in memory only as a SHA-256 digest (the cache
key).
"""

import base64
import hashlib
import json
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import OrderedDict

logger = logging.getLogger(__name__)

SESSION_COOKIE = "kolibri"


class Unavailable(Exception):
    """eventauth could not be asked or gave an answer that makes no sense.

    The message never contains the cookie.
    """


class Session(object):
    """An active eventauth session as introspection describes it."""

    __slots__ = ("user_id", "session_id", "exp")

    def __init__(self, user_id, session_id, exp):
        self.user_id = user_id  # 32 lowercase hex digits (Kolibri's form)
        self.session_id = session_id
        self.exp = exp

    def __repr__(self):
        return "Session(user_id={!r}, exp={!r})".format(self.user_id, self.exp)


def hex_id(value):
    """A UUID in Kolibri's form (32 lowercase hex), or None if it is not one."""
    if not isinstance(value, str):
        return None
    h = value.replace("-", "").lower()
    if len(h) != 32 or any(c not in "0123456789abcdef" for c in h):
        return None
    return h


def digest(secret):
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).hexdigest()


class TTLCache(object):
    """A small thread-safe LRU with a deadline per entry."""

    def __init__(self, size, clock=time.monotonic):
        self.size = size
        self.clock = clock
        self._data = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return None
            deadline, value = item
            if deadline <= self.clock():
                del self._data[key]
                return None
            self._data.move_to_end(key)
            return item

    def put(self, key, value, ttl):
        if ttl <= 0 or self.size <= 0:
            return
        with self._lock:
            self._data[key] = (self.clock() + ttl, value)
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def discard(self, key):
        with self._lock:
            self._data.pop(key, None)

    def __len__(self):
        return len(self._data)


class Eventauth(object):
    """Introspects session cookies and reads users, with a short cache."""

    def __init__(self, config, opener=None, clock=time.monotonic, wall=time.time):
        self.config = config
        self.cache = TTLCache(config.cache_size, clock=clock)
        self.wall = wall
        self._open = opener or urllib.request.build_opener(_NoRedirect).open
        self._basic = "Basic " + base64.b64encode(
            config.client.encode("utf-8")
        ).decode("ascii")

    # -- introspection ----------------------------------------------------

    def session(self, cookie):
        """The active Session behind ``cookie``, None if it is not active.

        Raises Unavailable when eventauth cannot say (not cached).
        """
        key = digest(cookie)
        hit = self.cache.get(key)
        if hit is not None:
            return hit[1]
        answer = self._introspect(cookie)
        ttl = self.config.cache_seconds
        if answer is not None and answer.exp:
            ttl = min(ttl, max(0.0, answer.exp - self.wall()))
        self.cache.put(key, answer, ttl)
        return answer

    def forget(self, cookie):
        self.cache.discard(digest(cookie))

    def _introspect(self, cookie):
        body = urllib.parse.urlencode(
            {"token": cookie, "token_type_hint": "session_cookie"}
        ).encode("ascii")
        request = urllib.request.Request(
            self.config.url + "/oauth/introspect",
            data=body,
            method="POST",
            headers={
                "Authorization": self._basic,
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
        )
        status, data = self._call(request, "introspection")
        if status != 200:
            raise Unavailable("introspection answered HTTP {}".format(status))
        if not isinstance(data, dict) or not isinstance(data.get("active"), bool):
            raise Unavailable("introspection answered no `active` boolean")
        if not data["active"]:
            return None
        if data.get("token_type") not in (None, "session_cookie"):
            # Some other kind of token that happens to look like a cookie.
            return None
        user_id = hex_id(data.get("sub"))
        if user_id is None:
            raise Unavailable("introspection answered no user id (`sub`)")
        exp = data.get("exp")
        if not isinstance(exp, (int, float)) or isinstance(exp, bool):
            exp = None
        elif exp <= self.wall():
            return None
        return Session(user_id, data.get("sid"), exp)

    # -- users ------------------------------------------------------------

    def facility_user(self, cookie, user_id):
        """``GET /api/auth/facilityuser/<id>/`` as the user themselves.

        The user's dict, or None when eventauth says 404/403 (not readable).
        Raises Unavailable otherwise.
        """
        request = urllib.request.Request(
            "{}/api/auth/facilityuser/{}/".format(self.config.url, user_id),
            method="GET",
            headers={
                "Cookie": "{}={}".format(SESSION_COOKIE, cookie),
                "Accept": "application/json",
            },
        )
        status, data = self._call(request, "facilityuser")
        if status in (401, 403, 404):
            return None
        if status != 200 or not isinstance(data, dict):
            raise Unavailable("facilityuser answered HTTP {}".format(status))
        if hex_id(data.get("id")) != user_id:
            raise Unavailable("facilityuser answered another user")
        return data

    # -- plumbing -----------------------------------------------------------

    def _call(self, request, what):
        try:
            response = self._open(request, timeout=self.config.timeout)
            status, raw = response.status, response.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        except Exception as e:  # URLError, timeouts, resets
            # The exception text names the URL, never the body or headers.
            raise Unavailable("{} failed: {}".format(what, type(e).__name__))
        try:
            data = json.loads(raw.decode("utf-8")) if raw else None
        except ValueError:
            data = None
        return status, data


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # never follow: the cookie stays put
        return None
