"""Where datasets live: local folders, or object storage and other fsspec file systems.

An input or output given as a URL (`s3://bucket/raw`, `gs://…`, `az://…`, `memory://…`) is
reached through fsspec, via universal_pathlib's path objects, so the formats' path code
(`root / rel`, `.is_file()`, `.read_text()`, `.iterdir()`) works on both kinds. `file://`
URLs are plain local paths. Neither fsspec nor universal_pathlib is imported for local paths:
they come with the `s3`, `gcs` and `azure` extras.

Paths travel between processes as strings (an Item's image and label, the output root): a
URL string means remote. Credentials and endpoints come from the environment the backend
reads (AWS_*, GOOGLE_APPLICATION_CREDENTIALS, …) or from `configure(storage_options)`, set
once per process (the parent, and every worker through the JobSpec).

Writes to remote storage are whole-object puts: an object appears complete or not at all,
which is what the local temporary-name-then-rename gives on a file system.
"""
from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterator

from augcli.errors import InputError, UsageError

_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
_OPTIONS: dict[str, Any] = {}
_PACKAGES = {"s3": "s3fs (pip install 'augcli[s3]')", "s3a": "s3fs (pip install 'augcli[s3]')",
             "gs": "gcsfs (pip install 'augcli[gcs]')", "gcs": "gcsfs (pip install 'augcli[gcs]')",
             "az": "adlfs (pip install 'augcli[azure]')", "abfs": "adlfs (pip install 'augcli[azure]')",
             "abfss": "adlfs (pip install 'augcli[azure]')"}


def configure(options: dict[str, Any] | None) -> None:
    """Storage options (fsspec keyword arguments, e.g. {"endpoint_url": …, "anon": false}) for
    every remote path this process opens from now on."""
    _OPTIONS.clear()
    _OPTIONS.update(options or {})


def options() -> dict[str, Any]:
    return dict(_OPTIONS)


def scheme(path: Any) -> str | None:
    """'s3' for 's3://bucket/x', None for a local path (a `file://` URL counts as local)."""
    if not isinstance(path, str):
        path = getattr(path, "protocol", None) and str(path)
        if not path:
            return None
    m = _URL.match(path)
    if not m or m.group(1).lower() in ("file", "local"):
        return None
    return m.group(1).lower()


def is_remote(path: Any) -> bool:
    return scheme(path) is not None


def location(text: str | os.PathLike) -> Any:
    """The folder `text` names: a resolved pathlib.Path, or a UPath for a URL (trailing '/' dropped).

    A URL whose backend is not installed is a UsageError saying what to install."""
    if not isinstance(text, str):
        return Path(text).resolve() if not is_remote(text) else text
    m = _URL.match(text)
    if m and m.group(1).lower() in ("file", "local"):
        return Path(text[m.end():] or "/").resolve()
    if not m:
        return Path(text).resolve()
    proto = m.group(1).lower()
    try:
        from upath import UPath

        path = UPath(text.rstrip("/") or text, **_OPTIONS)
        path.fs.invalidate_cache()  # builds the file system now (a missing backend is reported here, not
        return path                 # mid-run) and forgets listings made before this run's writes
    except ImportError as exc:
        missing = getattr(exc, "name", None)
        need = _PACKAGES.get(proto, f"the fsspec backend for {proto}://")
        hint = "universal_pathlib and fsspec (pip install 'augcli[s3]')" if missing in ("upath", "fsspec") else need
        raise UsageError(f"{text}: {proto}:// needs {hint} ({exc})") from None
    except ValueError as exc:  # fsspec: unknown protocol
        raise UsageError(f"{text}: {exc}") from None
    except TypeError as exc:  # the backend refused a storage option
        raise UsageError(f"{text}: bad --storage-options for {proto}:// ({exc})") from None


def _fs_path(url: str):
    from fsspec.core import url_to_fs

    return url_to_fs(url, **_OPTIONS)


def _fs_of(path: Any):
    """(file system, path inside it) of a UPath or a URL string."""
    return _fs_path(path) if isinstance(path, str) else (path.fs, path.path)


def same_place(a: Any, b: Any) -> tuple[bool, bool]:
    """(a is b or inside it, b is inside a) for two locations of one kind."""
    if is_remote(a) != is_remote(b):
        return False, False
    if not is_remote(a):
        a_in_b = a == b or b in a.parents or _is_below_by_identity(a, b)
        b_in_a = b == a or a in b.parents or _is_below_by_identity(b, a)
        return a_in_b, b_in_a
    # by file system and path inside it, not by URL text: one backend answers to several schemes
    # (s3:// and s3a://, gs:// and gcs://), and s3a://b/raw/aug is inside s3://b/raw
    if type(a.fs) is not type(b.fs):
        return False, False
    sa, sb = a.path.rstrip("/") + "/", b.path.rstrip("/") + "/"
    return sa.startswith(sb), sb.startswith(sa)


def _is_below_by_identity(child: Path, parent: Path) -> bool:
    """Whether the folder `parent` is `child` or one of its existing parents, compared as folders on
    disk (device and inode), not as paths: one folder reached by two paths (a bind mount, a container
    volume mounted twice) looks like two unrelated places to any path comparison."""
    try:
        target = os.stat(parent)
    except OSError:  # not there (yet): it holds nothing
        return False
    for folder in (child, *child.parents):
        try:
            st = os.stat(folder)
        except OSError:  # a folder not made yet
            continue
        if (st.st_dev, st.st_ino) == (target.st_dev, target.st_ino):
            return True
    return False


def walk(top: Any) -> Iterator[tuple[str, list[str], list[str]]]:
    """Like os.walk, top-down, but yields (folder relative to `top` as posix, '' for top itself,
    subfolder names, file names); prune by editing the subfolder list in place.

    Remote folders are listed with one recursive listing (object stores have no real folders)."""
    if not is_remote(top):
        top_s = os.fspath(top)
        for dirpath, dirnames, filenames in os.walk(top_s):
            rel = os.path.relpath(dirpath, top_s)
            yield ("" if rel == "." else PurePosixPath(*Path(rel).parts).as_posix()), dirnames, filenames
        return
    fs, base = top.fs, top.path.rstrip("/")
    tree: dict[str, tuple[set[str], list[str]]] = {"": (set(), [])}
    try:
        found = fs.find(base, withdirs=False, detail=False)
    except FileNotFoundError:
        return
    for full in found:
        full = full.rstrip("/")
        if not full.startswith(base + "/"):
            continue
        parts = full[len(base) + 1:].split("/")
        for i in range(len(parts) - 1):
            parent, child = "/".join(parts[:i]), "/".join(parts[:i + 1])
            tree.setdefault(child, (set(), []))
            tree.setdefault(parent, (set(), []))[0].add(parts[i])
        tree["/".join(parts[:-1])][1].append(parts[-1])

    def visit(rel: str):
        dirs, files = tree.get(rel, (set(), []))
        dirnames = sorted(dirs)
        yield rel, dirnames, sorted(files)
        for d in dirnames:  # what the caller left in the list
            yield from visit(f"{rel}/{d}" if rel else d)

    yield from visit("")


def walk_files(top: Any, enter: Callable[[str, str, bool], bool] | None = None,
               unreadable: Callable[[str, OSError], None] | None = None) -> Iterator[tuple[str, str, bool]]:
    """Every file below `top` as (folder relative to `top` as posix, '' for top itself; file name;
    whether the entry is a symbolic link), in no particular order.

    `enter(folder, name, is_link)` decides whether a subfolder is walked (default: all); linked
    folders are never walked, as in os.walk. What counts as a folder or a file is os.walk's too
    (a link to a folder is a folder; a dangling link is a file); unreadable folders are passed over,
    each told to `unreadable(folder, error)` when given (so a scan can report the files it cannot see).
    Local folders are read one entry at a time (os.scandir): a folder of a million files is never
    held as a list. Remote ones come from walk()'s one listing (object stores have no links)."""
    if is_remote(top):
        for rel, dirnames, filenames in walk(top):
            if enter is not None:
                dirnames[:] = [d for d in dirnames if enter(rel, d, False)]
            for name in filenames:
                yield rel, name, False
        return
    top_s = os.fspath(top)
    pending = [""]
    while pending:
        rel = pending.pop()
        subdirs: list[tuple[str, bool]] = []
        try:
            listing = os.scandir(os.path.join(top_s, rel) if rel else top_s)
        except OSError as exc:
            if unreadable is not None:
                unreadable(rel, exc)
            continue
        with listing:
            for entry in listing:
                try:
                    is_dir = entry.is_dir()
                except OSError:
                    is_dir = False
                if is_dir:
                    subdirs.append((entry.name, entry.is_symlink()))
                else:
                    yield rel, entry.name, entry.is_symlink()
        walked = [d for d, link in sorted(subdirs) if (enter is None or enter(rel, d, link)) and not link]
        pending += [f"{rel}/{d}" if rel else d for d in reversed(walked)]


def entry_names(folder: Any) -> Iterator[str]:
    """The names of the entries in `folder`, one at a time: a local folder is read with os.scandir
    (Path.iterdir and glob list it whole first, a hundred thousand names for a flat dataset)."""
    if is_remote(folder):
        for path in folder.iterdir():
            yield path.name
        return
    with os.scandir(os.fspath(folder)) as listing:
        for entry in listing:
            yield entry.name


def files(top: Any) -> Iterator[str]:
    """Every file below `top` (local or remote), as posix paths relative to it."""
    for rel, _, names in walk(top):
        for name in names:
            yield f"{rel}/{name}" if rel else name


def read_bytes(url: str, name: str, reason: str, max_bytes: int | None = None) -> bytes:
    """The bytes of a remote object; InputError(reason, name, …) when missing or unreadable."""
    try:
        fs, path = _fs_path(url)
        if max_bytes is not None:
            size = fs.size(path)
            if size is not None and size > max_bytes:
                raise InputError(reason, name, f"{size} bytes is more than the {max_bytes} allowed")
        return fs.cat_file(path)
    except FileNotFoundError:
        raise InputError(reason, name, "cannot open: no such object") from None
    except IsADirectoryError:
        raise InputError(reason, name, "a folder, not a file: skipped without reading") from None
    except OSError as exc:
        raise InputError(reason, name, f"cannot read: {exc.strerror or exc}") from None
    except Exception as exc:  # a backend's own error (no credentials, refused, throttled)
        raise InputError(reason, name, f"cannot read: {exc.__class__.__name__}: {exc}") from None


def write_bytes(path: Any, data: bytes) -> None:
    """One whole-object put of `data` at remote `path` (a UPath or URL string). Any failure is
    an OSError, as a local write's would be."""
    fs, p = _fs_of(path)
    with _as_oserror(path):
        fs.pipe_file(p, data)


def put_file(local: str | os.PathLike, path: Any) -> None:
    """Upload a local file as one object (multipart uploads too appear only when complete)."""
    fs, p = _fs_of(path)
    with _as_oserror(path):
        fs.put_file(os.fspath(local), p)


class _as_oserror:
    """Backends raise their own exceptions too (botocore's NoCredentialsError, …): make them
    OSErrors naming the object, so callers handle remote and local failures alike."""

    def __init__(self, path: Any):
        self.path = path

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if exc is None or isinstance(exc, OSError) or not isinstance(exc, Exception):
            return False
        raise OSError(f"{self.path}: {exc.__class__.__name__}: {exc}") from exc


def check_access(path: Any, what: str) -> bool:
    """Whether remote `path` is a folder (has objects below it); a UsageError when the store
    cannot be reached at all (no credentials, no such bucket, refused), before any work."""
    try:
        return path.is_dir()
    except Exception as exc:
        raise UsageError(f"cannot reach the {what} {path}: {exc.__class__.__name__}: {exc}") from None


def get_file(path: Any, local: str | os.PathLike) -> bool:
    """Download a remote object to a local file; False when there is none."""
    fs, p = _fs_of(path)
    try:
        fs.get_file(p, os.fspath(local))
    except FileNotFoundError:
        return False
    return True


def is_file(path: str | None) -> bool:
    """Whether a file (or object) exists at the path string `path` (False for None)."""
    if not path:
        return False
    if not is_remote(path):
        return os.path.isfile(path)
    fs, p = _fs_path(path)
    try:
        return fs.isfile(p)
    except (OSError, ValueError):
        return False


def lexists(path: str) -> bool:
    """os.path.lexists for local paths (a dangling link counts), existence for remote ones."""
    return is_file(path) if is_remote(path) else os.path.lexists(path)

