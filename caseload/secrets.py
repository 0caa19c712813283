"""Secrets (the SMTP password, the SMS token) come from an environment variable or the system
keyring, never from config.toml, and are never logged or put in an error message.

    CASELOAD_SMTP_PASSWORD   or  keyring: service "caseload", user "smtp_password"
    CASELOAD_SMS_TOKEN       or  keyring: service "caseload", user "sms_token"
    CASELOAD_IMAP_PASSWORD   or  keyring: service "caseload", user "imap_password"
    CASELOAD_WEBHOOK_TOKEN   or  keyring: service "caseload", user "webhook_token"
    CASELOAD_AUDIT_KEY       or  keyring: service "caseload", user "audit_key"

The audit key seals the head of the audit trail (caseload.audit): without it, someone who can
write the database file can rewrite the trail and its head consistently. Keep it where the
database's backups are not (the environment file, or the keyring), e.g. `openssl rand -hex 32`.

An administrator stores one in the keyring with `keyring set caseload sms_token`.
"""

import logging
import os

from .errors import CaseloadError

log = logging.getLogger("caseload.secrets")

SERVICE = "caseload"
ENVIRONMENT = {
    "smtp_password": "CASELOAD_SMTP_PASSWORD",
    "sms_token": "CASELOAD_SMS_TOKEN",
    "imap_password": "CASELOAD_IMAP_PASSWORD",
    "webhook_token": "CASELOAD_WEBHOOK_TOKEN",
    "audit_key": "CASELOAD_AUDIT_KEY",
}


class Secret(str):
    """A string that does not show itself in a repr, a traceback's locals or an f-string debug."""

    def __repr__(self) -> str:
        return "Secret('***')"


def get_secret(name: str) -> Secret | None:
    """The secret from its environment variable, else from the keyring; None when neither has it."""
    env = ENVIRONMENT[name]
    value = os.environ.get(env)
    if value:
        return Secret(value)
    try:
        import keyring
        from keyring.errors import KeyringError

        try:
            value = keyring.get_password(SERVICE, name)
        except KeyringError:
            value = None
    except Exception as e:  # a broken keyring backend must not stop a send run
        log.warning("keyring unavailable (%s)", type(e).__name__)
        value = None
    return Secret(value) if value else None


def where(name: str) -> str:
    """Where a secret is looked for, for messages to an administrator (never the value)."""
    return f"{ENVIRONMENT[name]} / keyring {SERVICE}:{name}"


class SecretMissing(CaseloadError):
    """A secret the configuration needs is not set (a password, a token). `code` is safe to log
    and to keep in the daemon's job table; the message names the variable and the keyring entry."""

    def __init__(self, secret: str):
        from .display import reason

        self.code = f"{secret}_missing"
        super().__init__(reason(self.code))
