"""Reading deploy-specific settings from the environment.

Only standard-library code: settings import this before Django is configured.
"""

import os
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{name}={raw!r} is not a boolean (use 1/0, true/false, yes/no, on/off)")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not an integer") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


@dataclass(frozen=True)
class EmailConfig:
    backend: str
    host: str = "localhost"
    port: int = 25
    user: str = ""
    password: str = ""
    use_tls: bool = False
    use_ssl: bool = False
    file_path: str = ""


_BACKENDS = {
    "smtp": "django.core.mail.backends.smtp.EmailBackend",
    "submission": "django.core.mail.backends.smtp.EmailBackend",
    "smtps": "django.core.mail.backends.smtp.EmailBackend",
    "console": "django.core.mail.backends.console.EmailBackend",
    "file": "django.core.mail.backends.filebased.EmailBackend",
    "memory": "django.core.mail.backends.locmem.EmailBackend",
    "dummy": "django.core.mail.backends.dummy.EmailBackend",
}


def parse_email_url(url: str) -> EmailConfig:
    """Turn EMAIL_URL into backend settings.

    smtp://user:pass@host:25, submission://host:587 (STARTTLS), smtps://host:465 (TLS),
    console://, file:///path, memory://, dummy://. `?tls=1` or `?ssl=1` force either.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _BACKENDS:
        known = ", ".join(sorted(_BACKENDS))
        raise ValueError(f"EMAIL_URL scheme {scheme!r} is not one of: {known}")
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    if scheme == "file":
        return EmailConfig(backend=_BACKENDS[scheme], file_path=unquote(parts.path))
    default_port = {"submission": 587, "smtps": 465}.get(scheme, 25)
    return EmailConfig(
        backend=_BACKENDS[scheme],
        host=parts.hostname or "localhost",
        port=parts.port or default_port,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        use_tls=scheme == "submission" or query.get("tls", "").lower() in _TRUE,
        use_ssl=scheme == "smtps" or query.get("ssl", "").lower() in _TRUE,
    )
