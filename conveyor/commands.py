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
    return f"{cli_command()} worker --app {app_path or PLACEHOLDER_APP} --queues {names}"


def find_app_path(app: Any) -> str | None:
    """'module:attr' of `app`, looked up in the modules its tasks are defined in (a script run
    as __main__ gets the module name its file has from the current directory)."""
    modules = {getattr(t.fn, "__module__", None) for t in app.tasks.values()}
    for name in sorted(m for m in modules if m and not m.startswith("conveyor.")):
        module = sys.modules.get(name)
        if module is None:
            continue
        for attr, value in list(vars(module).items()):
            if value is app:
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
