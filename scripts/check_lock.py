"""Check that requirements.txt agrees with pyproject.toml, and (``--installed``) that the venv holds the lock.

``scripts/test.sh`` runs this before the tests. It fails, one line per problem with the fix, when

* a requirement of ``pyproject.toml`` (``[project].dependencies`` and the ``dev`` extra) is missing from the lock,
  or its pinned version does not satisfy the requirement's bounds;
* the lock marks a package as a direct requirement (``# via populace (pyproject.toml)``) that ``pyproject.toml``
  no longer lists;
* (``--installed``) a package of the running interpreter's environment differs from its lock pin.

Usage: ``python scripts/check_lock.py [--installed] [--root DIR]``.
"""

from __future__ import annotations

import argparse
import importlib.metadata as metadata
import re
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s#;]+)(.*)$")
_REFRESH = "run scripts/lock.sh and commit requirements.txt and pylock.toml"


def read_lock(path: Path) -> tuple[dict[str, Version], set[str]]:
    """The pins of a pip-compile lock file and the names it marks as direct requirements of the project.

    Raises:
        SystemExit: a line that is neither a comment nor an exact ``name==version`` pin.
    """
    pins: dict[str, Version] = {}
    direct: set[str] = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        match = _PIN.match(text)
        if match is None:
            raise SystemExit(f"{path}:{number}: not an exact 'name==version' pin: {text!r}; {_REFRESH}")
        name = canonicalize_name(match.group(1))
        pins[name] = Version(match.group(2))
        if "populace (pyproject.toml)" in match.group(3):
            direct.add(name)
    return pins, direct


def project_requirements(pyproject: Path) -> list[Requirement]:
    """``[project].dependencies`` plus the ``dev`` extra of ``pyproject.toml``."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    texts = [*project.get("dependencies", []), *project.get("optional-dependencies", {}).get("dev", [])]
    return [Requirement(t) for t in texts]


def lock_problems(pyproject: Path, lock: Path) -> list[str]:
    """Every disagreement between ``pyproject.toml`` and the lock, one line each (empty when they agree)."""
    pins, direct = read_lock(lock)
    problems = []
    wanted: set[str] = set()
    for req in project_requirements(pyproject):
        if req.marker is not None and not req.marker.evaluate({"extra": "dev"}):
            continue
        name = canonicalize_name(req.name)
        wanted.add(name)
        if name not in pins:
            problems.append(f"{lock}: {req.name} (required in {pyproject.name} as {req}) is not locked; {_REFRESH}")
        elif not req.specifier.contains(pins[name], prereleases=True) and not req.specifier.contains(
            Version(pins[name].public), prereleases=True
        ):
            problems.append(f"{lock}: {name}=={pins[name]} does not satisfy {req} in {pyproject.name}; {_REFRESH}")
    for name in sorted(direct - wanted):
        problems.append(
            f"{lock}: {name} is locked as a requirement of the project but {pyproject.name} no longer "
            f"lists it; {_REFRESH}"
        )
    return problems


def installed_problems(lock: Path) -> list[str]:
    """Every locked package whose installed version (this interpreter's environment) differs from its pin."""
    pins, _ = read_lock(lock)
    problems = []
    for name, version in sorted(pins.items()):
        try:
            have = Version(metadata.version(name))
        except metadata.PackageNotFoundError:
            problems.append(f"{name}=={version} is locked but not installed; run scripts/setup.sh")
            continue
        if have != version and have.public != version.public:
            problems.append(f"{name} {have} is installed but {lock.name} pins {version}; run scripts/setup.sh")
    return problems


def pylock_problems(lock: Path, pylock: Path) -> list[str]:
    """Where ``pylock.toml`` (the file setup.sh installs) disagrees with the pins of ``requirements.txt``."""
    pins, _ = read_lock(lock)
    try:
        packages = tomllib.loads(pylock.read_text(encoding="utf-8")).get("packages", [])
    except (OSError, tomllib.TOMLDecodeError) as exc:
        return [f"{pylock} cannot be read ({exc}); {_REFRESH}"]
    locked = {canonicalize_name(p["name"]): Version(p["version"]) for p in packages}
    problems = [
        f"{pylock.name} locks {name} {locked.get(name, 'nothing')} but {lock.name} pins {version}; {_REFRESH}"
        for name, version in sorted(pins.items())
        if locked.get(name) != version
    ]
    problems += [
        f"{pylock.name} locks {name}, which {lock.name} does not pin; {_REFRESH}"
        for name in sorted(set(locked) - set(pins))
    ]
    return problems


def main(argv: list[str] | None = None) -> int:
    """Print every problem (one line each) and return 1 when there is one."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--installed", action="store_true", help="also check this environment against the lock")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args(argv)
    pyproject, lock = args.root / "pyproject.toml", args.root / "requirements.txt"
    if not lock.is_file():
        print(f"check_lock: {lock} does not exist; {_REFRESH}", file=sys.stderr)
        return 1
    problems = lock_problems(pyproject, lock) + pylock_problems(lock, args.root / "pylock.toml")
    problems += installed_problems(lock) if args.installed else []
    for line in problems:
        print(f"check_lock: {line}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
