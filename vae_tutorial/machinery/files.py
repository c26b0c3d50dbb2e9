"""Files: what is wrong with CIFAR-10 when torchvision cannot read it (missing, or there but damaged)."""

from __future__ import annotations

from pathlib import Path


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
