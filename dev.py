#!/usr/bin/env python3
"""Set up and run epaxdb from a fresh clone with nothing but Python 3.11+.

    python3 dev.py local [ARGS...]   start the main job (see README)
    python3 dev.py test [PYTEST ARGS...]   run the whole test suite
    python3 dev.py epaxdb ARGS...    run any epaxdb command inside the project venv

The first call creates `.venv` beside this file and installs the project into it
(editable, with its test extras); later calls reuse it and reinstall only when
pyproject.toml changed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".installed-pyproject-sha256"


def _venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_venv() -> Path:
    if sys.version_info < (3, 11):  # noqa: UP036 (dev.py runs on any python3 and says why not)
        sys.exit(f"epaxdb needs Python 3.11 or newer, this is {sys.version.split()[0]}")
    python = _venv_python()
    if not python.exists():
        print(f"[dev] creating virtual environment in {VENV.name}/", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if not STAMP.exists() or STAMP.read_text().strip() != wanted:
        print("[dev] installing epaxdb and its test dependencies", flush=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True
        )
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "-e", f"{ROOT}[test]"], check=True
        )
        STAMP.write_text(wanted)
    return python


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help"}:
        print(__doc__)
        return 0
    python = ensure_venv()
    action, rest = argv[0], argv[1:]
    if action == "test":
        command = [str(python), "-m", "pytest", *rest]
    elif action == "local":
        command = [str(python), "-m", "epaxdb", "local", *rest]
    elif action == "epaxdb":
        command = [str(python), "-m", "epaxdb", *rest]
    else:
        print(f"unknown action {action!r}\n{__doc__}", file=sys.stderr)
        return 2
    os.chdir(ROOT)
    # Replace this process, so Ctrl-C and SIGTERM reach epaxdb or pytest directly.
    os.execv(command[0], command)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
