"""The bundled demo archive in a work folder, imported on first use, for benchmarks."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

READER = Path(sys.executable).with_name("reader")


def demo_settings(work: Path | None, prefix: str) -> dict[str, Path]:
    """Return DATABASE and INDEX_DIR in work (a new temp dir when None), imported."""
    work = work or Path(tempfile.mkdtemp(prefix=prefix))
    settings = {"DATABASE": work / "archive.sqlite3", "INDEX_DIR": work / "index"}
    if not settings["DATABASE"].exists():
        env = {**os.environ, **{f"READERAPP_{k}": str(v) for k, v in settings.items()}}
        subprocess.run([READER, "import", "--demo"], env=env, check=True)
    return settings
