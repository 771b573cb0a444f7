"""hookhub: a self-hosted, Rocket.Chat-compatible integrations server."""

__version__ = "0.1.0"

#: The Rocket.Chat server version hookhub reports and behaves like (7.x/8.x contract).
RC_COMPAT_VERSION = "8.5.0"
