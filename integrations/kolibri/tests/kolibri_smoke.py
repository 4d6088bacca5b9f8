"""The middleware and the mirror inside a real, provisioned Kolibri, with a
fake eventauth (no network). Run in a Kolibri home where the plugin is
installed and enabled (it creates a user in the default facility):

    kolibri manage shell -c "exec(open('integrations/kolibri/tests/kolibri_smoke.py').read())"

Prints SMOKE OK or raises.
"""

from django.test import Client

from eventauth_kolibri import config as _config
from eventauth_kolibri import middleware as _mw
from eventauth_kolibri.client import Session as _Session
from kolibri.core.auth.models import Facility as _Facility
from kolibri.core.auth.models import FacilityUser as _FacilityUser
from kolibri.core.auth.models import Role as _Role

_FACILITY = _Facility.get_default_facility().id
_USER = "5a" * 16
_COOKIE = "eventauth-session-secret-for-the-smoke-test"
_calls = []


class _FakeEventauth(object):
    def __init__(self, conf):
        pass

    def session(self, cookie):
        _calls.append("introspect")
        return _Session(_USER, "sid", None) if cookie == _COOKIE else None

    def facility_user(self, cookie, user_id):
        _calls.append("facilityuser")
        assert cookie == _COOKIE and user_id == _USER
        return {"id": _USER, "username": "smoke", "full_name": "Smoke Test", "facility": _FACILITY,
                "roles": [{"collection": _FACILITY, "kind": "coach", "id": "x"}], "is_superuser": False,
                "gender": "", "birth_year": "", "id_number": ""}


_mw.Eventauth = _FakeEventauth
_mw.config_module.load = lambda env=None: _config.Config("http://eventauth.invalid", "k:s", 15.0, 100, 60.0, 1.0)

_c = Client()
_c.cookies["kolibri"] = _COOKIE
_r = _c.get("/api/logger/userprogress/%s/" % _USER)
assert _r.status_code == 200, (_r.status_code, _r.content[:300])
assert "kolibri" not in _r.cookies, "Kolibri touched eventauth's cookie: %s" % _r.cookies.get("kolibri")
_u = _FacilityUser.objects.get(id=_USER)
assert (_u.username, _u.full_name, _u.facility_id) == ("smoke", "Smoke Test", _FACILITY)
assert not _u.has_usable_password()
assert list(_Role.objects.filter(user=_u).values_list("kind", flat=True)) == ["coach"]

# A signed-in page: /en/auth/ sends the coach on (Kolibri's redirect for a signed-in user).
_r = _c.get("/en/auth/")
assert _r.status_code == 302 and "/en/" in _r["Location"], (_r.status_code, _r.get("Location"))
assert "kolibri" not in _r.cookies

# A cookie eventauth does not know: anonymous, and Django does not delete it.
_c2 = Client()
_c2.cookies["kolibri"] = "not-a-session"
_r = _c2.get("/api/logger/userprogress/%s/" % _USER)
assert _r.status_code == 403, _r.status_code
assert "kolibri" not in _r.cookies, "Django deleted the unreadable cookie"

# The user was fetched once (fresh for EVENTAUTH_USER_SYNC_SECONDS).
assert _calls.count("facilityuser") == 1, _calls
print("SMOKE OK", _calls)
