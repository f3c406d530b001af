"""Put a Demucs model into a local model folder (what `manage.py install_model` does).

The folder has the layout Demucs' `LocalRepo` and `BagOnlyRepo` read, which is
what `get_model(name, repo=folder)` loads with nothing downloaded:

    <folder>/<name>.yaml              a bag: `models: [<sig>, ...]` (+ optional weights, segment)
    <folder>/<sig>-<checksum8>.th     one model package per signature; checksum = first
                                      8 hex digits of the file's sha256, checked on load
    <folder>/<sig>.th                 also accepted (no checksum check)

A single `.th` can also be loaded by its signature alone; when it is installed
under another name a one-line `<name>.yaml` is written for it.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import yaml

from songs.errors import PermanentError

_TH = re.compile(r"^(?P<sig>[^-]+)(?:-(?P<checksum>[0-9a-f]+))?\.th$")


def install_model(
    name: str, model_dir: Path, source_path: Path | None = None, *, verify: bool = True
) -> list[Path]:
    """Install model `name` into `model_dir` from `source_path` (a `.th` file, a
    `.yaml` bag next to its `.th` files, or a folder holding them) or, without a
    source, from Demucs' download servers. Return the files written.

    With `verify`, the model is then loaded through `demucs.pretrained.get_model`
    exactly as the separation worker will.
    """
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    if source_path is None:
        written = _download(name, model_dir)
    else:
        written = _copy(name, Path(source_path), model_dir)
    if verify:
        verify_model(name, model_dir)
    return written


def verify_model(name: str, model_dir: Path) -> None:
    from demucs.pretrained import get_model  # noqa: PLC0415 - torch and Demucs load only in the processes that separate

    try:
        get_model(name, repo=Path(model_dir))
    except (Exception, SystemExit) as exc:  # Demucs' `fatal` exits
        raise PermanentError(
            "model_unavailable", f"{name!r} was copied into {model_dir} but does not load: {exc}"
        ) from exc


def _copy(name: str, source: Path, model_dir: Path) -> list[Path]:
    if source.is_dir():
        bag = source / f"{name}.yaml"
        if bag.is_file():
            return _copy_bag(bag, model_dir)
        singles = [path for path in _th_files(source) if _signature(path) == name]
        if not singles:
            raise _invalid(f"{source} has neither {name}.yaml nor {name}[-checksum].th")
        return [_copy_file(singles[0], model_dir)]
    if source.suffix == ".yaml" and source.is_file():
        written = _copy_bag(source, model_dir)
        if source.stem != name:
            written.append(_write_bag(name, [*yaml.safe_load(source.read_text())["models"]], model_dir))
        return written
    if source.suffix == ".th" and source.is_file():
        if _TH.match(source.name) is None:
            raise _invalid(f"{source.name} is not named <signature>[-<checksum>].th")
        written = [_copy_file(source, model_dir)]
        if _signature(source) != name:
            written.append(_write_bag(name, [_signature(source)], model_dir))
        return written
    raise _invalid(f"{source} is not a .th file, a .yaml bag or a folder")


def _copy_bag(bag: Path, model_dir: Path) -> list[Path]:
    signatures = yaml.safe_load(bag.read_text()).get("models") or []
    available = {_signature(path): path for path in _th_files(bag.parent)}
    missing = [sig for sig in signatures if sig not in available]
    if missing:
        raise _invalid(f"{bag.name} lists {', '.join(missing)} but {bag.parent} has no such .th")
    written = [_copy_file(available[sig], model_dir) for sig in signatures]
    written.append(_copy_file(bag, model_dir))  # last: the bag only appears once it loads
    return written


def _download(name: str, model_dir: Path) -> list[Path]:
    """Fetch the bag's `.th` files from Demucs' own list of URLs (files.txt)."""
    import torch  # noqa: PLC0415 - torch and Demucs load only in the processes that separate
    from demucs.pretrained import REMOTE_ROOT, _parse_remote_files  # noqa: PLC0415 - torch and Demucs load only in the processes that separate

    bag = REMOTE_ROOT / f"{name}.yaml"
    urls = _parse_remote_files(REMOTE_ROOT / "files.txt")
    if bag.is_file():
        signatures = list(yaml.safe_load(bag.read_text())["models"])
    elif name in urls:
        signatures = [name]
    else:
        raise _invalid(f"Demucs knows no pretrained model called {name!r}")
    written = []
    for sig in signatures:
        url = urls[sig]
        target = model_dir / url.rsplit("/", 1)[1]
        checksum = _TH.match(target.name)
        if not target.exists():
            fd, tmp = tempfile.mkstemp(dir=model_dir, suffix=".part")
            os.close(fd)
            try:
                torch.hub.download_url_to_file(
                    url, tmp, hash_prefix=checksum["checksum"] if checksum else None, progress=False
                )
                os.replace(tmp, target)
            except Exception as exc:
                raise PermanentError(
                    "model_unavailable",
                    f"Could not download {name!r} ({url}): {exc}. Without internet, copy the"
                    " model files from another machine and use --from PATH.",
                ) from exc
            finally:
                Path(tmp).unlink(missing_ok=True)
        written.append(target)
    if bag.is_file():
        written.append(_copy_file(bag, model_dir))
    return written


def _copy_file(source: Path, model_dir: Path) -> Path:
    target = model_dir / source.name
    if target.resolve() == source.resolve():
        return target
    fd, tmp = tempfile.mkstemp(dir=model_dir, suffix=".part")
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return target


def _write_bag(name: str, signatures: list[str], model_dir: Path) -> Path:
    target = model_dir / f"{name}.yaml"
    target.write_text(yaml.safe_dump({"models": signatures}))
    return target


def _th_files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.iterdir() if _TH.match(path.name))


def _signature(path: Path) -> str:
    match = _TH.match(path.name)
    return match["sig"] if match else path.stem


def _invalid(reason: str) -> PermanentError:
    return PermanentError("model_unavailable", reason)
