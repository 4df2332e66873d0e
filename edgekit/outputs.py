"""Writing files the way a user can trust: edgekit writes only what it owns.

* :func:`check_output_file` fails *before any work* when an output file cannot be written: it is
  a folder, one of the command's inputs, its folder is not writable, its name is too long.
* :func:`write_file` writes atomically (a temp file in the same folder, then a rename; no temp
  litter on failure) with the user's umask, and never over an input.
* :class:`OwnedFolder` is a folder edgekit generates files into. It keeps a manifest
  (``.edgekit-manifest.json``) of the files it wrote; it refuses a non-empty folder without a
  manifest unless ``force``, and even then it replaces or removes only files its manifest lists:
  a user's file is never overwritten or deleted, and it never writes through a symbolic link.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from edgekit.errors import EdgekitError

MANIFEST = ".edgekit-manifest.json"
NAME_MAX = 255


class OutputError(EdgekitError):
    """An output file or folder cannot be written, or writing it would touch a user's file."""


def user_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _same(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def check_output_file(path: Path | str, inputs: Iterable[Path | str | None] = (), what: str = "output") -> Path:
    """`path` as an output file that can be written, or an :class:`OutputError` now."""
    p = Path(path)
    if len(p.name.encode()) > NAME_MAX:
        raise OutputError(f"{what} file name is {len(p.name.encode())} bytes long; file names may have at most "
                          f"{NAME_MAX}: give a shorter name")
    if p.is_dir():
        raise OutputError(f"{what} {p} is a folder; give the path of a file to write")
    for src in inputs:
        if src is not None and _same(p, Path(src)):
            raise OutputError(f"{what} {p} is an input of this command; edgekit never writes over its input: "
                              "give another output file")
    _check_writable_folder(p.parent, what)
    return p


def _check_writable_folder(folder: Path, what: str) -> None:
    """The folder exists and is writable, or can be created under a writable ancestor."""
    probe = folder if str(folder) else Path(".")
    while not probe.exists():
        if probe.is_symlink():
            raise OutputError(f"{what} folder {probe} is a broken symbolic link")
        parent = probe.parent
        if parent == probe:
            break
        probe = parent
    if not probe.is_dir():
        raise OutputError(f"{what}: {probe} is a file, not a folder; give an output path in a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(f"{what}: cannot write in {probe} (permission denied); choose a folder you can write")


def write_file(path: Path | str, data: bytes | str, inputs: Iterable[Path | str | None] = (),
               what: str = "output") -> Path:
    """Write `data` to `path` atomically, with the user's umask, creating missing folders."""
    p = check_output_file(path, inputs, what)
    p.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name[:40]}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            os.fchmod(f.fileno(), 0o666 & ~user_umask())
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p


class OwnedFolder:
    """A folder edgekit writes generated files into (see the module docstring).

    ``files(scope)`` / ``data(key)`` read what the manifest recorded (scopes group files, e.g. one
    generated model); :meth:`write` checks every file first and writes nothing when one of them
    would replace a file edgekit does not own.
    """

    def __init__(self, path: Path | str, *, force: bool = False, what: str = "output folder") -> None:
        self.path = Path(path)
        self.what = what
        if self.path.exists() and not self.path.is_dir():
            raise OutputError(f"{what} {self.path} is a file; give a folder (new, empty, or one edgekit made)")
        self._manifest: dict[str, Any] = {"edgekit": 1, "files": {}, "data": {}}
        if self.path.is_dir():
            found = self._read_manifest()
            if found is not None:
                self._manifest = found
            elif any(self.path.iterdir()) and not force:
                raise OutputError(
                    f"{what} {self.path} is not empty and edgekit did not create it; give a new or empty folder, or "
                    "--force to add edgekit's files to it (edgekit never replaces or deletes files it did not write)")
        else:
            _check_writable_folder(self.path.parent, what)

    # ---- the manifest ----------------------------------------------------------------------
    def _read_manifest(self) -> dict[str, Any] | None:
        p = self.path / MANIFEST
        if not p.is_file():
            return None
        try:
            data = json.loads(p.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("edgekit") != 1 or not isinstance(data.get("files"), dict):
            return None
        data.setdefault("data", {})
        return data

    @property
    def owned(self) -> dict[str, str]:
        """{relative path: scope} of the files edgekit wrote here."""
        return self._manifest["files"]

    def files(self, scope: str) -> list[str]:
        return sorted(rel for rel, s in self.owned.items() if s == scope)

    def data(self, key: str, default: Any = None) -> Any:
        return self._manifest["data"].get(key, default)

    def set_data(self, key: str, value: Any) -> None:
        self._manifest["data"][key] = value

    # ---- writing -----------------------------------------------------------------------------
    def _target(self, rel: str) -> Path:
        parts = Path(rel).parts
        if Path(rel).is_absolute() or ".." in parts or not parts:
            raise OutputError(f"internal: {rel!r} is not a path inside {self.path}")
        cur = self.path
        for part in parts:
            cur = cur / part
            if cur.is_symlink():
                raise OutputError(f"{cur} is a symbolic link; edgekit does not write through links: remove it or "
                                  "choose another folder")
        return cur

    def check(self, files: Iterable[str], scope: str) -> None:
        """Fail unless every file of `files` (relative paths) may be written for `scope`."""
        for rel in files:
            target = self._target(rel)
            owner = self.owned.get(rel)
            if target.is_dir():
                raise OutputError(f"{target} is a folder; edgekit needs to write a file there: move it away")
            if target.exists() and owner is None:
                raise OutputError(f"{target} exists and edgekit did not write it; move it away or choose another "
                                  "folder (edgekit never replaces a file it did not write)")
            if owner is not None and owner != scope and "shared" not in (owner, scope):
                raise OutputError(f"{target} belongs to {owner!r} in {self.path}; choose another name")

    def write(self, files: dict[str, bytes | str], scope: str, *, shared: Iterable[str] = ()) -> None:
        """Write `files` ({relative path: content}) for `scope`; the files named in `shared` belong
        to every scope (and are all the shared files: shared files not named are removed). Files
        `scope` wrote before and no longer has are removed. Nothing is written when one file would
        replace a file edgekit does not own."""
        shared = set(shared)
        self.check([r for r in files if r not in shared], scope)
        self.check([r for r in files if r in shared], "shared")
        self.path.mkdir(parents=True, exist_ok=True)
        stale = [rel for rel in self.files(scope) if rel not in files]
        for rel, content in files.items():
            target = self._target(rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            if not (target.exists() and target.read_bytes() == (content.encode() if isinstance(content, str)
                                                                   else content)):
                write_file(target, content, what=self.what)
            self.owned[rel] = "shared" if rel in shared else scope
        for rel in stale:
            target = self._target(rel)
            if target.is_file():
                target.unlink()
            del self.owned[rel]
        for rel in [r for r, s in self.owned.items() if s == "shared" and r not in shared]:
            stale_shared = self._target(rel)
            if stale_shared.is_file():
                stale_shared.unlink()
            del self.owned[rel]
        self.commit()

    def claim(self, rel: str, scope: str) -> Path:
        """A sub-folder edgekit fills itself (e.g. a build folder): refused when it exists and is not
        edgekit's; recorded in the manifest."""
        target = self._target(rel)
        owner = self.owned.get(rel)
        if target.exists() and owner is None:
            raise OutputError(f"{target} exists and edgekit did not make it; move it away or choose another folder")
        self.path.mkdir(parents=True, exist_ok=True)
        self.owned[rel] = scope
        self.commit()
        return target

    def commit(self) -> None:
        write_file(self.path / MANIFEST, json.dumps(self._manifest, indent=1, sort_keys=True) + "\n", what=self.what)
