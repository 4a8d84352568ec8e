"""`conveyor integrations [types|list|show|create|update|test]`.

Credentials never travel on the command line (shell history, `ps`): each `--credential NAME`
is read from the environment variable CONVEYOR_CREDENTIAL_<NAME> when set, else prompted for
without echo. `--email` is not secret and may be given as a flag.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from conveyor.integrations import (
    IntegrationConflictError,
    IntegrationInputError,
    IntegrationNotFoundError,
    load_types,
)
from conveyor.integrations.wiring import integrations_for

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NOT_FOUND = 0, 1, 2, 5


def _credentials(args: argparse.Namespace) -> dict[str, Any] | None:
    values: dict[str, Any] = {}
    if args.email:
        values["email"] = args.email
    for name in args.credential or []:
        env = f"CONVEYOR_CREDENTIAL_{name.upper()}"
        value = os.environ.get(env)
        values[name] = value if value is not None else getpass.getpass(f"{name}: ")
    return values or None


def _settings(args: argparse.Namespace) -> dict[str, Any] | None:
    settings: dict[str, Any] = {}
    if args.settings:
        try:
            parsed = json.loads(args.settings)
        except ValueError as exc:
            raise IntegrationInputError(f"--settings is not JSON: {exc}.", field="settings") from None
        if not isinstance(parsed, dict):
            raise IntegrationInputError("--settings must be a JSON object.", field="settings")
        settings.update(parsed)
    if args.projects is not None:
        settings["projects"] = [p.strip() for p in args.projects.split(",") if p.strip()]
    return settings or None


def _print(item: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(item, indent=2))
        return
    print(f"{item['id']}  {item['tenant']}/{item['name']}  {item['type']}  {item['base_url']}  "
          f"{'active' if item['active'] else 'inactive'}  credentials: {', '.join(item['credentials_set'])}")


def cmd_integrations(args: argparse.Namespace, load_app: Callable[..., Any]) -> int:
    if args.action == "types":
        for kind in sorted(load_types().values(), key=lambda k: k.name):
            print(f"{kind.name:10} {kind.label:10} credentials: {', '.join(kind.credential_fields)}  "
                  f"pipeline: {kind.pipeline}")
        return EXIT_OK
    app = load_app(args.app, args.database_url)
    service = integrations_for(app)
    try:
        return _run(args, service)
    except IntegrationInputError as exc:
        print(f"error: {exc.message}" + (f" ({exc.field})" if exc.field else "")
              + (f"\n{exc.action}" if exc.action else ""), file=sys.stderr)
        return EXIT_USAGE
    except IntegrationNotFoundError as exc:
        print(f"error: {exc.message} {exc.action}".rstrip(), file=sys.stderr)
        return EXIT_NOT_FOUND
    except IntegrationConflictError as exc:
        print(f"error: {exc.message} {exc.action}".rstrip(), file=sys.stderr)
        return EXIT_FAILED


def _run(args: argparse.Namespace, service: Any) -> int:
    if args.action == "list":
        items = [i.to_dict() for i in service.list(args.tenant, args.type)]
        if args.json:
            print(json.dumps(items, indent=2))
        for item in [] if args.json else items:
            _print(item, False)
        return EXIT_OK
    if args.action == "create":
        if not (args.type and args.name and args.base_url):
            raise SystemExit("usage: conveyor integrations create --type jira --name NAME --base-url URL "
                             "--email EMAIL --credential api_token [--projects A,B] [--settings JSON]")
        created = service.create(tenant=args.tenant or "default", type=args.type, name=args.name,
                                 base_url=args.base_url, credentials=_credentials(args) or {},
                                 settings=_settings(args) or {}, active=not args.inactive)
        _print(created.to_dict(), args.json)
        return EXIT_OK
    if not args.target:
        raise SystemExit(f"usage: conveyor integrations {args.action} INTEGRATION_ID")
    if args.action == "show":
        _print(service.get(args.target, args.tenant).to_dict(), args.json)
        return EXIT_OK
    if args.action == "update":
        active = False if args.inactive else (True if args.active else None)
        changed = service.update(args.target, args.tenant, name=args.name, base_url=args.base_url,
                                 credentials=_credentials(args), settings=_settings(args), active=active)
        _print(changed.to_dict(), args.json)
        return EXIT_OK
    report = service.test(args.target, args.tenant)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    elif report.ok:
        print(f"ok: connected as {report.user} (time zone {report.time_zone})")
    else:
        print(f"problem: {report.problem}")
    return EXIT_OK if report.ok else EXIT_FAILED


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["types", "list", "show", "create", "update", "test"])
    p.add_argument("target", nargs="?", help="INTEGRATION_ID for show, update and test")
    p.add_argument("--tenant", help="create: the tenant (default 'default'); others: only this tenant")
    p.add_argument("--type", help="create: jira, github ...; list: only this type")
    p.add_argument("--name")
    p.add_argument("--base-url")
    p.add_argument("--email", help="Jira: the account's email (not secret)")
    p.add_argument("--credential", action="append", metavar="NAME",
                   help="a credential field (api_token, bearer_token ...), read from CONVEYOR_CREDENTIAL_<NAME> "
                        "or prompted for; repeatable")
    p.add_argument("--projects", help="Jira: comma-separated project keys to sync (empty: all)")
    p.add_argument("--settings", help="JSON object of type settings (merged on update)")
    p.add_argument("--active", action="store_true", help="update: make active")
    p.add_argument("--inactive", action="store_true", help="create/update: make inactive")
    p.add_argument("--json", action="store_true")
