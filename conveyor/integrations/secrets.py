"""Credentials encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`).

The key comes from CONVEYOR_SECRET_KEY. Several comma-separated keys rotate: the first encrypts,
every one decrypts. `conveyor up` makes one for local use and keeps it in .conveyor/secret.key.
Nothing here logs or formats a credential.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from conveyor.errors import ConfigurationError

SECRET_KEY_ENV = "CONVEYOR_SECRET_KEY"
KEY_HINT = ("Set CONVEYOR_SECRET_KEY to a Fernet key; make one with: python -c \"from cryptography.fernet "
            "import Fernet; print(Fernet.generate_key().decode())\"")


def secret_box(keys: str | None = None) -> MultiFernet:
    """The cipher of CONVEYOR_SECRET_KEY (or of `keys`); a missing or malformed key is a clear error."""
    raw = os.environ.get(SECRET_KEY_ENV, "") if keys is None else keys
    parts = [p.strip() for p in raw.split(",") if p.strip()]
    if not parts:
        raise ConfigurationError("CONVEYOR_SECRET_KEY is not set: integration credentials cannot be "
                                 "encrypted or read.", action=KEY_HINT)
    try:
        return MultiFernet([Fernet(p.encode()) for p in parts])
    except (ValueError, TypeError):
        raise ConfigurationError("CONVEYOR_SECRET_KEY is not a Fernet key (32 url-safe base64-encoded bytes).",
                                 action=KEY_HINT) from None


def encrypt_credentials(credentials: dict[str, Any], box: MultiFernet | None = None) -> str:
    return (box or secret_box()).encrypt(json.dumps(credentials, sort_keys=True).encode()).decode("ascii")


def decrypt_credentials(token: str, box: MultiFernet | None = None) -> dict[str, Any]:
    try:
        plain = (box or secret_box()).decrypt(token.encode("ascii"))
    except InvalidToken:
        raise ConfigurationError(
            "The stored credentials cannot be decrypted with CONVEYOR_SECRET_KEY (the key changed?).",
            action="Set CONVEYOR_SECRET_KEY to the key they were saved with (put the new key first, "
                   "comma-separated, to rotate), or enter the credentials again with PATCH /api/integrations/{id}.",
        ) from None
    value = json.loads(plain)
    assert isinstance(value, dict)
    return value


def local_secret_key(folder: Path) -> str:
    """`conveyor up`: the key in `folder`/secret.key, made on first use (mode 0600), unless
    CONVEYOR_SECRET_KEY is already set. Also exported to this process's environment, so the
    worker processes it starts read the same key."""
    existing = os.environ.get(SECRET_KEY_ENV)
    if existing:
        return existing
    path = folder / "secret.key"
    if path.exists():
        key = path.read_text().strip()
    else:
        folder.mkdir(exist_ok=True)
        key = Fernet.generate_key().decode("ascii")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never readable by others
        with os.fdopen(fd, "w") as handle:
            handle.write(key + "\n")
    os.environ[SECRET_KEY_ENV] = key
    return key
