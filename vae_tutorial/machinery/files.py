"""Files: a checkpoint's folder probed before a run starts, temporary files of killed saves removed,
a file replaced atomically (written next to it, then renamed over it), a checkpoint read back safely;
what is wrong with CIFAR-10."""

from __future__ import annotations

import os
import pickle
import tempfile
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import torch

CHECKPOINT_FORMAT = 1  # the layout save_checkpoint writes


def temporary_files(path: Path) -> list[Path]:
    """The temporary files that saves of ``path`` make (``.NAME.XXXX.tmp``, in the same folder)."""
    return sorted(path.parent.glob(f".{path.name}.*.tmp"))


def remove_stale_temporary_files(path: Path) -> None:
    """Remove what saves of ``path`` that were killed (SIGKILL, power cut) left behind, and say so."""
    stale = temporary_files(path)
    for file in stale:
        file.unlink(missing_ok=True)
    if stale:
        warnings.warn(f"removed {len(stale)} temporary file(s) left by an interrupted save of {path}: "
                      f"{', '.join(file.name for file in stale)}", stacklevel=3)


def check_writable(path: str | Path, what: str = "checkpoint") -> Path:
    """Make ``path``'s folder, write and remove a probe file there, and clean stale temporary files:
    a path that cannot be written fails now, not after the first epoch. Returns ``Path(path)``."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{what} {path} is a folder; give a file path in it, e.g. {path / 'vae.pt'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as error:
        raise PermissionError(f"cannot write the {what} {path}: {error.strerror or error} "
                              f"({path.parent}); choose a folder you can write to") from None
    remove_stale_temporary_files(path)
    return path


def write_atomically(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """``write(file)`` into a temporary file next to ``path``, synced, then renamed over ``path``."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o666 & ~current_umask())  # mkstemp makes 0600; use the usual mode
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def current_umask() -> int:
    """The process's file-creation mask (reading it means setting it, so set it back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def read_checkpoint(path: str | Path) -> dict:
    """The raw checkpoint dict, loaded safely (``weights_only=True``: tensors and plain data)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}" + (" (that is a folder)" if path.is_dir() else ""))
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a readable checkpoint: not a file torch.save writes (cut short, "
                         "or another kind of file); give a file that save_checkpoint or fit wrote")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # never pass on torch's advice here: weights_only=False would run code
        raise ValueError(f"{path} was refused unread: it holds Python objects other than tensors and plain "
                         "data, which a vae_tutorial checkpoint never does (they could run code)") from None
    except Exception as error:  # a damaged archive, ...
        raise ValueError(f"{path} is not a readable checkpoint ({type(error).__name__}): it is damaged; "
                         "use an earlier copy, or train again") from None
    keys = state.keys() if isinstance(state, dict) else ()
    missing = [key for key in ("format", "config", "model") if key not in keys]
    if missing or state["format"] != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a vae_tutorial checkpoint (format {CHECKPOINT_FORMAT}, with a "
                         f"config and a model); missing: {', '.join(missing) or 'format 1'}")
    return state


def cifar10_file_problems(folder: Path) -> list[str]:
    """The CIFAR-10 files under ``folder`` that are missing or fail torchvision's md5 check."""
    import torchvision.datasets.cifar as tv_cifar

    files = tv_cifar.CIFAR10.train_list + tv_cifar.CIFAR10.test_list
    files = files + [[tv_cifar.CIFAR10.meta["filename"], tv_cifar.CIFAR10.meta["md5"]]]
    return [f"{name} is damaged (wrong md5 checksum)" if (folder / name).is_file() else f"{name} is missing"
            for name, md5 in files if not tv_cifar.check_integrity(str(folder / name), md5)]


def cifar10_error(root: Path, download: bool, error: Exception, hint: str) -> str:
    """What went wrong with CIFAR-10 under ``root`` (missing, or there but damaged) and what to do."""
    import torchvision.datasets.cifar as tv_cifar

    folder = root / tv_cifar.CIFAR10.base_folder
    get = f"Download {tv_cifar.CIFAR10.url} (163 MB) and extract it into {root}"
    if not folder.is_dir():
        how = "could not be downloaded" if download else "downloading is turned off"
        return (f"CIFAR-10 was not found under {folder} ({how}). {get} so that {folder} holds data_batch_1 "
                f"... test_batch, and run again; or use the offline shapes dataset ({hint}). "
                f"torchvision said: {error}")
    problems = cifar10_file_problems(folder) or [f"a file could not be read ({type(error).__name__})"]
    return (f"CIFAR-10 under {folder} is incomplete or damaged: {'; '.join(problems)}. Delete {folder}; "
            f"then run again with downloading on, or {get[0].lower() + get[1:]}; or use the offline shapes "
            f"dataset ({hint}). torchvision said: {error}")
