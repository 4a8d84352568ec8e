"""Checks every integration type shares: tenant, name, base URL, and typed settings fields."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from conveyor.integrations.types import IntegrationInputError

TENANT = re.compile(r"^[A-Za-z0-9_.:@-]{1,100}$")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.:@()/-]{0,99}$")


def check_tenant(tenant: str) -> str:
    if not isinstance(tenant, str) or not TENANT.match(tenant):
        raise IntegrationInputError(f"Invalid tenant {tenant!r}.", field="tenant",
                                    action="Use 1-100 characters from letters, digits and _ . : @ -.")
    return tenant


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not NAME.match(name.strip()):
        raise IntegrationInputError(
            f"Invalid integration name {name!r}.", field="name",
            action="Use 1-100 characters: letters, digits, spaces and _ . : @ ( ) / -, starting with a letter or digit.")
    return name.strip()


def check_base_url(url: Any) -> str:
    """http(s)://host[:port][/path], no credentials, query or fragment; no trailing slash."""
    action = "Give the site's address, such as https://acme.atlassian.net."
    if not isinstance(url, str) or len(url) > 500:
        raise IntegrationInputError("base_url must be a URL of at most 500 characters.", field="base_url",
                                    action=action)
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise IntegrationInputError(f"base_url {url!r} is not an http(s) URL.", field="base_url", action=action)
    if parts.username or parts.password:
        raise IntegrationInputError("base_url must not carry credentials (user:password@).", field="base_url",
                                    action="Put the credentials in the credentials object; they are encrypted.")
    if parts.query or parts.fragment:
        raise IntegrationInputError(f"base_url {url!r} has a query or fragment.", field="base_url", action=action)
    try:
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise IntegrationInputError(f"base_url {url!r} has an invalid port.", field="base_url",
                                    action=action) from None
    return url.strip().rstrip("/")


def int_setting(values: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = values.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise IntegrationInputError(f"settings.{name} must be a whole number from {low} to {high}, got {value!r}.",
                                    field=f"settings.{name}", action=f"Default: {default}.")
    return value


def number_setting(values: Mapping[str, Any], name: str, default: float, low: float, high: float) -> float:
    value = values.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise IntegrationInputError(f"settings.{name} must be a number from {low:g} to {high:g}, got {value!r}.",
                                    field=f"settings.{name}", action=f"Default: {default:g}.")
    return float(value)


def refuse_unknown(values: Mapping[str, Any], known: set[str] | frozenset[str], where: str) -> None:
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise IntegrationInputError(f"Unknown {where} field(s): {', '.join(unknown)}.", field=f"{where}.{unknown[0]}",
                                    action=f"Known {where} fields: {', '.join(sorted(known))}.")


def secret_string(values: Mapping[str, Any], name: str) -> str:
    """A non-empty credential string (its value never appears in the message)."""
    value = values.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > 4000:
        raise IntegrationInputError(f"credentials.{name} must be a non-empty string of at most 4000 characters.",
                                    field=f"credentials.{name}")
    return value.strip()
