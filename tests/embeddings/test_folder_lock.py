"""Only one process may open an embedded store folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conveyor.etl.embeddings import FolderLock, StoreLockedError

OPEN_IN_CHILD = """
import sys
from conveyor.etl.embeddings.config import EmbeddingSettings, open_store
from conveyor.etl.embeddings import StoreLockedError
try:
    store = open_store(EmbeddingSettings(vector_dir=sys.argv[1], vector_engine=sys.argv[2]))
except StoreLockedError as exc:
    print(exc)
    sys.exit(3)
store.close()
print("opened")
"""


def open_in_child(folder: Path, engine: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", OPEN_IN_CHILD, str(folder), engine],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("engine", ["edge", "local"])
def test_a_second_process_is_refused_while_the_owner_lives(tmp_path: Path, engine: str) -> None:
    from conveyor.etl.embeddings.config import EmbeddingSettings, open_store

    folder = tmp_path / "vectors"
    owner = open_store(EmbeddingSettings(vector_dir=str(folder), vector_engine=engine))
    try:
        refused = open_in_child(folder, engine)
        assert refused.returncode == 3, refused.stderr
        assert f"already open (owner: process {__import__('os').getpid()})" in refused.stdout
        assert "Qdrant server URL" in refused.stdout
    finally:
        owner.close()
    assert open_in_child(folder, engine).stdout.strip() == "opened"


def test_the_lock_dies_with_its_process(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c",
                              "import sys,time; from conveyor.etl.embeddings import FolderLock;"
                              "FolderLock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(60)",
                              str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        with pytest.raises(StoreLockedError):
            FolderLock(tmp_path).acquire()
    finally:
        child.kill()
        child.wait(timeout=30)
    with FolderLock(tmp_path) as lock:  # kill -9 released it
        assert lock.held
