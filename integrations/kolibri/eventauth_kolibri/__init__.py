"""Kolibri plugin that trusts eventauth's sessions.

Enable with ``kolibri plugin enable eventauth_kolibri``; configure with
environment variables (see ``eventauth_kolibri.config``).
"""

__version__ = "0.1.0"
