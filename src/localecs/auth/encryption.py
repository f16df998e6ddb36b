"""Secret keys sealed at rest with AES-256-GCM, under a key that lives in configuration.

The key comes from LOCALECS_ENCRYPTION_KEY (URL-safe base64 of 32 bytes) or from a key file,
by default ``<data-dir>/secret.key``, generated on first use with mode 0600. Every process on
one store must use the same key: with PostgreSQL and several hosts, give them all the same
value (docs/identity.md).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SCHEME = "aesgcm1"
KEY_BYTES = 32
_NONCE_BYTES = 12


class EncryptionKeyError(Exception):
    """The configured key is missing, malformed or not the one the store was sealed with."""


class SecretBox:
    """Seals and opens secrets. The access key is bound in as associated data, so a sealed
    secret copied onto another key's row does not open."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise EncryptionKeyError(f"the encryption key must be {KEY_BYTES} bytes")
        self._aead = AESGCM(key)

    def seal(self, secret: str, bound_to: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, secret.encode(), bound_to.encode())
        return base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def open(self, sealed: str, bound_to: str) -> str:
        try:
            raw = base64.urlsafe_b64decode(sealed.encode("ascii"))
            plain = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], bound_to.encode())
        except (InvalidTag, ValueError, binascii.Error):
            raise EncryptionKeyError(
                "a stored secret does not open with the configured encryption key"
            ) from None
        return plain.decode()


def parse_key(text: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.strip().encode("ascii"))
    except (ValueError, binascii.Error):
        raise EncryptionKeyError("the encryption key is not URL-safe base64") from None
    if len(key) != KEY_BYTES:
        raise EncryptionKeyError(f"the encryption key must decode to {KEY_BYTES} bytes")
    return key


def new_key_text() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def load_key(value: str | None, key_file: Path) -> bytes:
    """The key given as a value, else the one in ``key_file``, created (0600) if absent."""
    if value:
        return parse_key(value)
    if not key_file.exists():
        _create_key_file(key_file)
    return parse_key(key_file.read_text())


def _create_key_file(key_file: Path) -> None:
    key_file.parent.mkdir(parents=True, exist_ok=True)
    # Written under a private name, then linked into place: a process starting at the same
    # moment either finds no file or a complete one, and exactly one key wins.
    draft = key_file.with_name(f".{key_file.name}.{secrets.token_hex(6)}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(new_key_text() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # another process's key won
            os.link(draft, key_file)
    finally:
        draft.unlink(missing_ok=True)
