"""The commands Conveyor tells a user to run: copy-pasteable as printed. The app's real
`module:attr` (found from where its tasks are defined) and the CLI's path when it is not on PATH."""

from __future__ import annotations

import os
import shutil
import sys
from typing import Any

PLACEHOLDER_APP = "your_module:app"


def cli_command() -> str:
    """`conveyor` when that is on PATH and is this install; else its path in this interpreter's
    bin directory (a virtualenv that is not activated); else `python -m conveyor`."""
    here = os.path.join(os.path.dirname(sys.executable), "conveyor")
    found = shutil.which("conveyor")
    if found and (not os.path.exists(here) or os.path.realpath(found) == os.path.realpath(here)):
        return "conveyor"
    if os.path.exists(here):
        return _relative(here)
    return f"{_relative(sys.executable)} -m conveyor"


def _relative(path: str) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return rel if not rel.startswith("..") and " " not in rel else path


def worker_command(app_path: str | None, queues: str | list[str]) -> str:
    names = queues if isinstance(queues, str) else ",".join(queues)
    command = f"{cli_command()} worker --app {app_path or PLACEHOLDER_APP} --queues {names}"
    if app_path:
        return command
    return (f"{command} - Conveyor could not find which module defines this app: replace "
            f"{PLACEHOLDER_APP} with it as module:variable (the module path and the name your "
            "Conveyor() is assigned to), or pass Conveyor(app_path=...)")


def find_app_path(app: Any) -> str | None:
    """'module:attr' of `app`, looked up in the modules its tasks are defined in (a script run
    as __main__ gets the module name its file has from the current directory)."""
    modules = {getattr(t.fn, "__module__", None) for t in app.tasks.values()}
    found = _find_in(app, sorted(m for m in modules if m and not m.startswith("conveyor.")))
    if found is None:  # an app whose tasks live elsewhere (or none yet): any module holding it
        found = _find_in(app, sorted(m for m in list(sys.modules) if m != "conveyor" and not m.startswith("conveyor.")))
    return found


def _find_in(app: Any, names: list[str]) -> str | None:
    for name in names:
        module = sys.modules.get(name)
        if module is None:
            continue
        try:
            items = list(vars(module).items())
        except TypeError:  # not a real module (some packages put other objects in sys.modules)
            continue
        for attr, value in items:
            if value is app and not attr.startswith("_"):
                return f"{_module_name(name, module)}:{attr}"
    return None


def _module_name(name: str, module: Any) -> str:
    if name != "__main__":
        return name
    path = getattr(module, "__file__", None)
    if not path:
        return name
    rel = os.path.relpath(os.path.abspath(path))
    if rel.startswith(".."):
        return os.path.splitext(os.path.basename(path))[0]
    return os.path.splitext(rel)[0].replace(os.sep, ".")
