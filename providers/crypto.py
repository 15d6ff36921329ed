"""Secrets at rest: Fernet tokens under MultiFernet so keys rotate (newest key first encrypts)."""

from __future__ import annotations

import base64
import hashlib
import logging
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

logger = logging.getLogger("benchhub.providers")


class SecretUnreadable(Exception):
    """The ciphertext does not open with any configured key (rotated away, or tampered)."""


def _keys() -> tuple[str, ...]:
    configured = settings.BENCHHUB_CREDENTIALS_KEY
    if isinstance(configured, str):
        configured = [k for k in configured.split(",") if k.strip()]
    return tuple(k.strip() for k in configured)


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    if keys:
        return MultiFernet([Fernet(k.encode()) for k in keys])
    # Local/demo only: production refuses to start without BENCHHUB_CREDENTIALS_KEY. A key derived
    # from SECRET_KEY means rotating SECRET_KEY makes stored secrets unreadable.
    logger.warning("BENCHHUB_CREDENTIALS_KEY is not set; deriving the credentials key from SECRET_KEY")
    derived = base64.urlsafe_b64encode(hashlib.sha256(b"benchhub-credentials:" + secret_key.encode()).digest())
    return MultiFernet([Fernet(derived)])


def fernet() -> MultiFernet:
    return _fernet(_keys(), settings.SECRET_KEY)


def encrypt(plaintext: str) -> str:
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable("The stored secret cannot be decrypted with the configured keys.") from exc


def rotate(token: str) -> str:
    """Re-encrypt under the newest key (after a new key is put first in BENCHHUB_CREDENTIALS_KEY)."""
    return fernet().rotate(token.encode()).decode()
