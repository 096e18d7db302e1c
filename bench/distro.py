"""The ``distro`` mode's virtualenv: the services' pinned packages plus what the tutorial adds.

"Distro defaults" is what a reader who follows the usual OpenTelemetry tutorial gets:
``pip install -r requirements.lock``, then every instrumentation ``opentelemetry-bootstrap -a
requirements`` prints for that environment, and a gunicorn ``post_fork`` hook that calls
``initialize()`` and nothing else (``bench/distro_gunicorn_conf.py``).

The virtualenv lives in ``bench/.venv-distro`` (git-ignored) and is reused while its stamp
matches: a hash of ``requirements.lock`` and of the pinned bootstrap list.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK_FILE = ROOT / "requirements.lock"
DEFAULT_VENV = ROOT / "bench" / ".venv-distro"
GUNICORN_CONFIG = "python:bench.distro_gunicorn_conf"
PIP = ["-m", "pip", "install", "--quiet", "--disable-pip-version-check"]


@dataclass(frozen=True)
class DistroVenv:
    """A ready virtualenv and the instrumentations bootstrap installed in it."""

    path: Path
    instrumentations: list[str]
    created: bool

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"


def contrib_release(lock_text: str) -> str:
    """The contrib release the lock pins (that of ``opentelemetry-instrumentation``)."""
    match = re.search(r"^opentelemetry-instrumentation==(\S+)$", lock_text, re.MULTILINE)
    if not match:
        raise RuntimeError(f"{LOCK_FILE.name} pins no opentelemetry-instrumentation")
    return match[1]


def pin(bootstrap_output: str, release: str) -> list[str]:
    """Each requirement bootstrap printed, pinned to ``release``, sorted."""
    names = {
        match[1].lower()
        for line in bootstrap_output.splitlines()
        if (
            match := re.match(
                r"\s*(opentelemetry-instrumentation-[A-Za-z0-9_.-]+?)\s*(?:[=<>~!]|$)", line
            )
        )
    }
    return sorted(f"{name}=={release}" for name in names)


def _run(command: list[str], what: str) -> str:
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        raise SystemExit(f"distro venv: {what} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def ensure_venv(path: Path = DEFAULT_VENV) -> DistroVenv:
    """Create (or reuse) the distro virtualenv; print which instrumentations it has."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f"{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a concurrent bench or test waits for this one
        return _ensure_venv(path)


def _ensure_venv(path: Path) -> DistroVenv:
    lock_text = LOCK_FILE.read_text()
    lock_hash = hashlib.sha256(lock_text.encode()).hexdigest()
    stamp_path = path / ".bench-stamp.json"
    try:
        stamp = json.loads(stamp_path.read_text())
    except (OSError, ValueError):
        stamp = {}
    python = str(path / "bin" / "python")
    created = False
    if stamp.get("lock_sha256") != lock_hash or not Path(python).exists():
        print(f"distro venv: creating {_shown(path)} from {LOCK_FILE.name}", flush=True)
        stamp_path.unlink(missing_ok=True)
        _run([sys.executable, "-m", "venv", "--clear", str(path)], "python -m venv")
        _run([python, *PIP, "-r", str(LOCK_FILE)], f"pip install -r {LOCK_FILE.name}")
        stamp, created = {}, True
    # What the tutorial runs next, inside that environment.
    listed = _run(
        [str(path / "bin" / "opentelemetry-bootstrap"), "-a", "requirements"], "bootstrap"
    )
    instrumentations = pin(listed, contrib_release(lock_text))
    if not instrumentations:
        raise SystemExit(f"distro venv: opentelemetry-bootstrap printed nothing:\n{listed}")
    key = hashlib.sha256("\n".join([lock_text, *instrumentations]).encode()).hexdigest()
    if stamp.get("key") != key:
        print(
            f"distro venv: installing the {len(instrumentations)} instrumentations "
            f"opentelemetry-bootstrap chose: {_names(instrumentations)}",
            flush=True,
        )
        _run([python, *PIP, "-c", str(LOCK_FILE), *instrumentations], "pip install (bootstrap)")
        stamp = {"lock_sha256": lock_hash, "key": key, "instrumentations": instrumentations}
        stamp_path.write_text(json.dumps(stamp, indent=2) + "\n")
        created = True
    else:
        print(
            f"distro venv: {_shown(path)} is up to date; its {len(instrumentations)} "
            f"instrumentations (opentelemetry-bootstrap): {_names(instrumentations)}",
            flush=True,
        )
    return DistroVenv(path, instrumentations, created)


def _names(requirements: list[str]) -> str:
    return ", ".join(
        r.split("==")[0].removeprefix("opentelemetry-instrumentation-") for r in requirements
    )


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
