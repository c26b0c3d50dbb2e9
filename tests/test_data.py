"""Data: the shapes dataset, uint8 -> float conversion, batching, and CIFAR-10 loading."""

import pickle
import urllib.error

import numpy as np
import pytest
import torch
import torchvision.datasets.cifar as tv_cifar

from vae_tutorial import batches, load_cifar10, shapes_dataset, to_unit_interval
from vae_tutorial.data import SHAPE_NAMES, hue_to_rgb, render_shapes


def test_shapes_dataset_is_deterministic_uint8_with_factors():
    images, factors = shapes_dataset(300, seed=3)
    assert images.shape == (300, 3, 32, 32) and images.dtype == torch.uint8
    assert set(factors) == {"shape", "x", "y", "size", "hue", "background"}
    assert all(values.shape == (300,) for values in factors.values())
    again, _ = shapes_dataset(300, seed=3)
    other, _ = shapes_dataset(300, seed=4)
    assert torch.equal(images, again) and not torch.equal(images, other)
    assert set(factors["shape"].tolist()) == set(range(len(SHAPE_NAMES)))


def test_shapes_are_drawn_where_their_factors_say():
    factors = {"shape": torch.tensor([0, 1, 2]), "x": torch.full((3,), 16.0),
               "y": torch.full((3,), 16.0), "size": torch.full((3,), 6.0),
               "hue": torch.tensor([0.0, 1 / 3, 2 / 3]), "background": torch.full((3,), 0.2)}
    images = render_shapes(factors)
    centre, corner = images[:, :, 16, 16], images[:, :, 0, 0]
    assert torch.equal(centre, torch.tensor([[255, 0, 0], [0, 255, 0], [0, 0, 255]], dtype=torch.uint8))
    assert torch.equal(corner, torch.full((3, 3), 51, dtype=torch.uint8))  # 0.2 * 255 grey
    # A square fills its corners, a circle does not, a triangle is narrow at the top.
    assert images[0, 0, 11, 11] == 255 and images[1, 0, 11, 11] == 51
    assert images[2, 2, 11, 16] == 255 and images[2, 2, 11, 12] == 51


def test_hue_to_rgb_primary_colours():
    rgb = hue_to_rgb(torch.tensor([0.0, 1 / 6, 1 / 3, 0.5, 2 / 3]))
    expected = torch.tensor([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 1, 1], [0, 0, 1]], dtype=torch.float32)
    torch.testing.assert_close(rgb, expected, atol=1e-5, rtol=0)


def test_shapes_dataset_rejects_bad_sizes():
    with pytest.raises(ValueError, match="positive integer"):
        shapes_dataset(0)


def test_to_unit_interval_dequantises_within_each_bin():
    images = torch.tensor([0, 1, 128, 255], dtype=torch.uint8).view(1, 1, 1, 4).expand(1, 3, 32, 4)
    images = images.repeat(1, 1, 1, 8)
    x = to_unit_interval(images)
    low, high = images.float() / 256, (images.float() + 1) / 256
    assert x.dtype == torch.float32 and bool(((x >= low) & (x < high)).all())
    torch.testing.assert_close(to_unit_interval(images, dequantize=False), (images.float() + 0.5) / 256)
    with pytest.raises(TypeError, match="uint8"):
        to_unit_interval(images.float())


def test_batches_cover_every_image_once():
    images, _ = shapes_dataset(70)
    seen = torch.cat(list(batches(images, 32, shuffle=True, dequantize=False)))
    assert seen.shape == (70, 3, 32, 32)
    expected = to_unit_interval(images, dequantize=False)
    # Same multiset of images, in a new order: compare sorted per-image sums.
    torch.testing.assert_close(seen.sum(dim=(1, 2, 3)).sort().values,
                               expected.sum(dim=(1, 2, 3)).sort().values)
    with pytest.raises(ValueError, match="batch_size"):
        next(batches(images, 0))


def write_fake_cifar10(root, n_per_batch=20):
    """A small CIFAR-10 folder in the real on-disk format: pickled dicts of (n, 3072) uint8 rows."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    batches_written = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(n_per_batch, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n_per_batch).tolist()
        with open(folder / name, "wb") as file:
            pickle.dump({"batch_label": name, "data": data, "labels": labels}, file)
        batches_written[name] = (data, labels)
    with open(folder / "batches.meta", "wb") as file:
        pickle.dump({"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog",
                                     "frog", "horse", "ship", "truck"]}, file)
    return batches_written


@pytest.fixture
def fake_cifar10(tmp_path, monkeypatch):
    """The fake folder, with torchvision's md5 check replaced by an existence check.

    Our files have the real format but not the real bytes, so their md5 sums differ from
    torchvision's table; everything else (paths, unpickling, reshaping) runs for real.
    """
    written = write_fake_cifar10(tmp_path)
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda path, md5=None: tv_cifar.os.path.isfile(path))
    return tmp_path, written


def test_load_cifar10_reads_the_real_format(fake_cifar10):
    root, written = fake_cifar10
    images, labels = load_cifar10(root, train=True, download=False)
    assert images.shape == (100, 3, 32, 32) and images.dtype == torch.uint8
    assert labels.shape == (100,) and labels.dtype == torch.int64
    first_row = written["data_batch_1"][0][0]  # 1024 red, 1024 green, 1024 blue values
    assert torch.equal(images[0], torch.from_numpy(first_row).view(3, 32, 32))
    assert labels[:20].tolist() == written["data_batch_1"][1]
    test_images, _ = load_cifar10(root, train=False, download=True)  # present: no download
    assert test_images.shape == (20, 3, 32, 32)


def test_load_cifar10_missing_offline_says_how_to_get_it(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(tv_cifar, "download_and_extract_archive", offline)
    with pytest.raises(FileNotFoundError, match="cifar-10-python.tar.gz") as error:
        load_cifar10(tmp_path / "nowhere", download=True)
    assert "shapes" in str(error.value) and str(tmp_path / "nowhere") in str(error.value)
    with pytest.raises(FileNotFoundError, match="was not found"):
        load_cifar10(tmp_path / "nowhere", download=False)


# Issue 15: missing is not damaged; the file is named; the hint is in the caller's language.

def fake_cifar10_in(root, monkeypatch, check_md5=False):
    """The fake folder under ``root``; torchvision's md5 check replaced unless ``check_md5``."""
    import torchvision.datasets.cifar as tv_cifar
    from test_data import write_fake_cifar10

    write_fake_cifar10(root)
    if not check_md5:
        monkeypatch.setattr(tv_cifar, "check_integrity", lambda path, md5=None: tv_cifar.os.path.isfile(path))
    return root / "cifar-10-batches-py"


def test_cifar10_with_a_wrong_md5_is_called_damaged(tmp_path, monkeypatch):
    fake_cifar10_in(tmp_path, monkeypatch, check_md5=True)  # real format, but not the real bytes
    with pytest.raises(FileNotFoundError, match="data_batch_1 is damaged .wrong md5") as error:
        load_cifar10(tmp_path, download=False)
    assert "was not found" not in str(error.value) and "dataset='shapes'" in str(error.value)


def test_cifar10_missing_a_batch_names_it(tmp_path, monkeypatch):
    (fake_cifar10_in(tmp_path, monkeypatch) / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match="incomplete or damaged: data_batch_3 is missing"):
        load_cifar10(tmp_path, download=False)


def test_cifar10_unreadable_file_is_called_damaged(tmp_path, monkeypatch):
    batch = fake_cifar10_in(tmp_path, monkeypatch) / "data_batch_2"
    batch.write_bytes(batch.read_bytes()[:100])  # cut short: the md5 (patched) passes, unpickling fails
    with pytest.raises(FileNotFoundError, match="could not be read .(UnpicklingError|EOFError)"):
        load_cifar10(tmp_path, download=False)


def test_cifar10_missing_from_the_command_line_gives_the_command_lines_hint(tmp_path, capsys):
    from vae_tutorial.tools.cli import main

    assert main(["--dataset", "cifar10", "--data-dir", str(tmp_path), "--no-download", "--device", "cpu",
                 "--out", str(tmp_path / "vae.pt")]) == 1
    error = capsys.readouterr().err
    assert "downloading is turned off" in error and "--dataset shapes" in error
    assert "dataset='shapes'" not in error and "torchvision said: Dataset not found" in error
