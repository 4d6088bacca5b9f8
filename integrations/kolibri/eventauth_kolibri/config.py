"""Configuration from environment variables (no Django needed).

EVENTAUTH_URL                    eventauth's own address as Kolibri's server reaches it,
                                 e.g. http://127.0.0.1:8080 (not the public proxy: /oauth/
                                 is not exposed there). Unset: the plugin does nothing.
EVENTAUTH_INTROSPECTION_CLIENT   ``id:secret``, one of eventauth's EVENTAUTH_INTROSPECTION_CLIENTS
  or EVENTAUTH_CLIENT_ID + EVENTAUTH_CLIENT_SECRET
EVENTAUTH_CACHE_SECONDS          how long an introspection answer is kept (default 15, at most
                                 the session's own expiry; 0 disables the cache)
EVENTAUTH_CACHE_SIZE             how many answers are kept (default 10000, least recently used out)
EVENTAUTH_USER_SYNC_SECONDS      how long a mirrored user counts as fresh before it is fetched
                                 from eventauth again (default 60)
EVENTAUTH_TIMEOUT                seconds for one call to eventauth (default 3)
"""

import os
from collections import namedtuple

Config = namedtuple(
    "Config",
    [
        "url",
        "client",
        "cache_seconds",
        "cache_size",
        "user_sync_seconds",
        "timeout",
    ],
)


class ConfigError(ValueError):
    pass


def _number(env, name, default, kind=float):
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError("{} must be a number, not {!r}".format(name, raw))
    if value < 0:
        raise ConfigError("{} must not be negative".format(name))
    return value


def load(env=None):
    """The configuration, or None when EVENTAUTH_URL is unset (plugin inert)."""
    env = os.environ if env is None else env
    url = (env.get("EVENTAUTH_URL") or "").strip().rstrip("/")
    if not url:
        return None
    if not (url.startswith("http://") or url.startswith("https://")):
        raise ConfigError("EVENTAUTH_URL must start with http:// or https://")
    client = env.get("EVENTAUTH_INTROSPECTION_CLIENT") or ""
    if not client:
        cid = env.get("EVENTAUTH_CLIENT_ID") or ""
        secret = env.get("EVENTAUTH_CLIENT_SECRET") or ""
        if cid or secret:
            client = "{}:{}".format(cid, secret)
    if ":" not in client:
        raise ConfigError(
            "set EVENTAUTH_INTROSPECTION_CLIENT=id:secret (or EVENTAUTH_CLIENT_ID and "
            "EVENTAUTH_CLIENT_SECRET), one of eventauth's EVENTAUTH_INTROSPECTION_CLIENTS"
        )
    return Config(
        url=url,
        client=client,
        cache_seconds=_number(env, "EVENTAUTH_CACHE_SECONDS", 15.0),
        cache_size=int(_number(env, "EVENTAUTH_CACHE_SIZE", 10000, int)),
        user_sync_seconds=_number(env, "EVENTAUTH_USER_SYNC_SECONDS", 60.0),
        timeout=_number(env, "EVENTAUTH_TIMEOUT", 3.0),
    )
