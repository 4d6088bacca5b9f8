"""Unit tests that need neither Django nor Kolibri:
python3 -m unittest discover -s tests  (from integrations/kolibri)."""

import base64
import io
import json
import logging
import os
import sys
import unittest
import urllib.error
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from eventauth_kolibri import config  # noqa: E402
from eventauth_kolibri import settings as plugin_settings  # noqa: E402
from eventauth_kolibri.client import Eventauth  # noqa: E402
from eventauth_kolibri.client import hex_id  # noqa: E402
from eventauth_kolibri.client import TTLCache  # noqa: E402
from eventauth_kolibri.client import Unavailable  # noqa: E402

COOKIE = "s3cr3t-cookie-value"
USER = "0123456789abcdef0123456789abcdef"
DASHED = "01234567-89ab-cdef-0123-456789abcdef"


class Clock(object):
    def __init__(self, t=1000.0):
        self.t = t

    def __call__(self):
        return self.t


class Response(object):
    def __init__(self, status, body):
        self.status = status
        self._body = body

    def read(self):
        return self._body


class FakeOpener(object):
    """Answers like eventauth; records the requests."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.requests = []

    def __call__(self, request, timeout=None):
        self.requests.append(request)
        status, body = self.answers.pop(0)
        if isinstance(body, Exception):
            raise body
        raw = json.dumps(body).encode() if not isinstance(body, bytes) else body
        if status >= 400:
            raise urllib.error.HTTPError(request.full_url, status, "x", {}, io.BytesIO(raw))
        return Response(status, raw)


def conf(**kw):
    env = {"EVENTAUTH_URL": "http://127.0.0.1:8080/", "EVENTAUTH_INTROSPECTION_CLIENT": "kolibri:pw"}
    env.update(kw)
    return config.load(env)


ACTIVE = {"active": True, "token_type": "session_cookie", "sub": DASHED, "sid": "s", "exp": 5000}


class ConfigTests(unittest.TestCase):
    def test_unset_url_makes_the_plugin_inert(self):
        self.assertIsNone(config.load({}))

    def test_one_client_or_id_and_secret(self):
        self.assertEqual(conf().client, "kolibri:pw")
        c = config.load({"EVENTAUTH_URL": "http://e", "EVENTAUTH_CLIENT_ID": "a", "EVENTAUTH_CLIENT_SECRET": "b:c"})
        self.assertEqual(c.client, "a:b:c")
        self.assertEqual(c.url, "http://e")

    def test_missing_client_is_an_error(self):
        with self.assertRaises(config.ConfigError):
            config.load({"EVENTAUTH_URL": "http://e"})

    def test_numbers(self):
        c = conf(EVENTAUTH_CACHE_SECONDS="30", EVENTAUTH_CACHE_SIZE="5")
        self.assertEqual((c.cache_seconds, c.cache_size), (30.0, 5))
        with self.assertRaises(config.ConfigError):
            conf(EVENTAUTH_TIMEOUT="soon")


class CacheTests(unittest.TestCase):
    def test_expiry_and_bound(self):
        clock = Clock()
        cache = TTLCache(2, clock=clock)
        cache.put("a", 1, 10)
        cache.put("b", None, 10)
        self.assertEqual(cache.get("b"), (1010.0, None))  # a cached "inactive"
        cache.put("c", 3, 10)  # "a" is least recently used
        self.assertIsNone(cache.get("a"))
        clock.t += 11
        self.assertIsNone(cache.get("c"))


class IntrospectionTests(unittest.TestCase):
    def client(self, answers, **kw):
        opener = FakeOpener(answers)
        clock = Clock()
        wall = Clock(4000.0)
        return Eventauth(conf(**kw), opener=opener, clock=clock, wall=wall), opener, clock, wall

    def test_the_request_is_rfc7662_with_the_session_cookie_hint(self):
        ea, opener, _, _ = self.client([(200, ACTIVE)])
        s = ea.session(COOKIE)
        self.assertEqual((s.user_id, s.session_id, s.exp), (USER, "s", 5000))
        req = opener.requests[0]
        self.assertEqual(req.full_url, "http://127.0.0.1:8080/oauth/introspect")
        self.assertEqual(req.get_method(), "POST")
        form = urllib.parse.parse_qs(req.data.decode())
        self.assertEqual(form, {"token": [COOKIE], "token_type_hint": ["session_cookie"]})
        auth = req.get_header("Authorization")
        self.assertEqual(base64.b64decode(auth.split()[1]).decode(), "kolibri:pw")

    def test_answers_are_cached_briefly(self):
        ea, opener, clock, _ = self.client([(200, ACTIVE), (200, {"active": False})])
        ea.session(COOKIE)
        ea.session(COOKIE)
        self.assertEqual(len(opener.requests), 1)
        clock.t += 16
        self.assertIsNone(ea.session(COOKIE))
        self.assertEqual(len(opener.requests), 2)
        self.assertIsNone(ea.session(COOKIE))  # "inactive" cached too
        self.assertEqual(len(opener.requests), 2)

    def test_the_cache_never_outlives_the_session(self):
        ea, opener, clock, _ = self.client([(200, dict(ACTIVE, exp=4005)), (200, {"active": False})])
        ea.session(COOKIE)
        clock.t += 6
        self.assertIsNone(ea.session(COOKIE))

    def test_an_expired_or_foreign_answer_is_not_a_session(self):
        ea, _, _, _ = self.client([(200, dict(ACTIVE, exp=10)), (200, dict(ACTIVE, token_type="refresh_token"))],
                                  EVENTAUTH_CACHE_SECONDS="0")
        self.assertIsNone(ea.session(COOKIE))
        self.assertIsNone(ea.session(COOKIE))

    def test_failures_are_not_cached_and_never_name_the_cookie(self):
        ea, opener, _, _ = self.client([(401, {"error": "invalid_client"}), (200, b"<html>"),
                                        (0, urllib.error.URLError("refused")), (200, ACTIVE)])
        for _ in range(3):
            with self.assertRaises(Unavailable) as e:
                ea.session(COOKIE)
            self.assertNotIn(COOKIE, str(e.exception))
        self.assertEqual(ea.session(COOKIE).user_id, USER)

    def test_facility_user_is_read_with_the_users_own_cookie(self):
        ea, opener, _, _ = self.client([(200, {"id": USER, "username": "ada"}), (404, [{"id": "NOT_FOUND"}]),
                                        (200, {"id": "f" * 32})])
        self.assertEqual(ea.facility_user(COOKIE, USER)["username"], "ada")
        req = opener.requests[0]
        self.assertEqual(req.full_url, "http://127.0.0.1:8080/api/auth/facilityuser/%s/" % USER)
        self.assertEqual(req.get_header("Cookie"), "kolibri=" + COOKIE)
        self.assertIsNone(ea.facility_user(COOKIE, USER))
        with self.assertRaises(Unavailable):
            ea.facility_user(COOKIE, USER)

    def test_nothing_logged_contains_the_cookie(self):
        records = []

        class H(logging.Handler):
            def emit(self, record):
                records.append(record.getMessage())

        h = H()
        logging.getLogger("eventauth_kolibri").addHandler(h)
        try:
            ea, _, _, _ = self.client([(500, b"oops")])
            with self.assertRaises(Unavailable):
                ea.session(COOKIE)
        finally:
            logging.getLogger("eventauth_kolibri").removeHandler(h)
        self.assertFalse([r for r in records if COOKIE in r])


class HelperTests(unittest.TestCase):
    def test_hex_id(self):
        self.assertEqual(hex_id(DASHED), USER)
        self.assertEqual(hex_id(USER.upper()), USER)
        self.assertIsNone(hex_id("nope"))
        self.assertIsNone(hex_id(None))

    def test_middleware_goes_right_after_kolibris_authentication(self):
        mw = ["a", plugin_settings.AFTER, "b"]
        plugin_settings.insert(mw)
        plugin_settings.insert(mw)
        self.assertEqual(mw, ["a", plugin_settings.AFTER, plugin_settings.MIDDLEWARE_PATH, "b"])
        with self.assertRaises(RuntimeError):
            plugin_settings.insert(["a"])


if __name__ == "__main__":
    unittest.main()
