"""Tool: the command line ``python -m vae_tutorial`` (also ``vae-tutorial-train``), lesson 3.

Trains the article's VAE (or the small one) on CIFAR-10 or the shapes data with ``fit``,
which writes the checkpoint atomically after every epoch; continues a run with
``--resume`` (exactly where it stopped: weights, optimiser, history and random state), and on
Ctrl-C stops between two steps, saves and exits with status 130. The folder of ``--out`` is
probed before anything else. Under ``torchrun`` the same command trains with
DistributedDataParallel on every GPU of the machine (``tools.distributed``); there a Ctrl-C
stops every rank between the same two steps, rank 0 saves and each rank exits 130, while
torchrun itself reports the signal with its own traceback and status 1::

    python -m vae_tutorial --dataset cifar10 --epochs 18 --out checkpoints/cifar10.pt
    python -m vae_tutorial --dataset cifar10 --epochs 5 --out checkpoints/cifar10.pt --resume
    torchrun --standalone --nproc-per-node 4 -m vae_tutorial --dataset cifar10
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Callable
from pathlib import Path

import torch

from vae_tutorial.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from vae_tutorial.data import load_cifar10, shapes_dataset
from vae_tutorial.history import History
from vae_tutorial.machinery.files import check_writable
from vae_tutorial.machinery.interrupts import deferred_interrupts
from vae_tutorial.model import BACKBONES, LIKELIHOOD_SCALE_SHAPES, VAE, VAEConfig
from vae_tutorial.tools import distributed
from vae_tutorial.train import PRECISIONS, NonFiniteLossError, TrainConfig, fit, make_optimizer

DATASETS = ("cifar10", "shapes")
SHAPES_POOL = 50_000  # shapes images made for training + validation: CIFAR-10's size
EXIT_INTERRUPTED = 130  # what shells report for a program stopped by Ctrl-C (128 + SIGINT)
NEGATIVE = re.compile(r"-(\d|\.\d|inf|nan)[\w.+-]*", re.IGNORECASE)  # -1e-3, -.5, -inf
DEFAULTS = TrainConfig()  # the run's defaults live in one place: train.TrainConfig


def positive_int(text: str) -> int:
    """argparse type: an integer > 0."""
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or a positive integer, got {text}")
    return value


def non_negative_float(text: str) -> float:
    value = float(text)
    if not 0 <= value < math.inf:  # nan and inf are no numbers a run can use
        raise argparse.ArgumentTypeError(f"must be 0 or a positive number, got {text}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def attach_negative_numbers(argv: list[str]) -> list[str]:
    """``--lr -1e-3`` -> ``--lr=-1e-3``: argparse takes ``-1e-3`` for an option; this way the value's
    own check says what is wrong with it."""
    joined: list[str] = []
    for arg in argv:
        if joined and joined[-1].startswith("--") and "=" not in joined[-1] and NEGATIVE.fullmatch(arg):
            joined[-1] = f"{joined[-1]}={arg}"
        else:
            joined.append(arg)
    return joined


def add_cure_arguments(add: Callable) -> None:
    """The two cures for posterior collapse of lesson 2, as options of the run (``TrainConfig``)."""
    add("--kl-warmup-epochs", type=non_negative_float, default=DEFAULTS.kl_warmup_epochs,
        help="KL warm-up: β grows linearly from 0 over the first epochs; --resume continues it (default: 0)")
    add("--free-bits", type=non_negative_float, default=DEFAULTS.free_bits,
        help="free bits: nats of KL per latent unit (batch mean) that cost nothing (default: 0, none)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vae_tutorial",
        description="Train a VAE on CIFAR-10 (or the offline shapes data); lesson 3 of vae-tutorial.")
    add = parser.add_argument
    add("--dataset", choices=DATASETS, default="cifar10", help="training data (default: cifar10)")
    # Model settings default to None: a new run takes VAEConfig's defaults (the article's
    # model), a resumed run takes the checkpoint's; a value given here must match it.
    add("--backbone", choices=sorted(BACKBONES), help="encoder/decoder (default: resnet18)")
    add("--likelihood", choices=list(LIKELIHOOD_SCALE_SHAPES),
        help="p(x|z): a Gaussian with one σ, one per channel or per pixel, a Bernoulli, or a discretised "
             "logistic (default: scalar)")
    add("--latent-dim", type=positive_int, help="size of z (default: 256)")
    add("--epochs", type=non_negative_int, default=DEFAULTS.epochs,
        help=f"epochs to train now (default: {DEFAULTS.epochs})")
    add("--batch-size", type=positive_int, default=DEFAULTS.batch_size,
        help=f"images per step, over all ranks (default: {DEFAULTS.batch_size})")
    add("--lr", type=positive_float,
        help=f"Adam's step size for the networks (default: {DEFAULTS.lr:g}; with --resume: the stored one)")
    add("--scale-lr", type=positive_float,
        help=f"Adam's step size for log σ (default: {DEFAULTS.scale_lr:g}; with --resume: the stored one)")
    add("--beta", type=non_negative_float, default=DEFAULTS.beta,
        help=f"weight of the KL term; 1 is the ELBO (default: {DEFAULTS.beta:g})")
    add_cure_arguments(add)
    add("--data-dir", type=Path, default=Path("data"), help="where CIFAR-10 is, or goes (default: data)")
    add("--download", action=argparse.BooleanOptionalAction, default=True,
        help="download CIFAR-10 when it is missing (default: yes)")
    add("--train-images", type=positive_int, help="train on only the first N training images (default: all)")
    add("--val-images", type=non_negative_int, default=5000,
        help="training images held out for validation each epoch (default: 5000)")
    add("--out", type=Path, help="checkpoint written after every epoch (default: checkpoints/vae_DATASET.pt)")
    add("--resume", action="store_true",
        help="continue the run saved at --out: weights, optimiser state and history")
    add("--device", help="cpu, cuda, cuda:1, mps ... (default: the GPU when there is one)")
    add("--precision", choices=PRECISIONS, default=DEFAULTS.precision,
        help="autocast precision (default: bf16 on CUDA, fp32 elsewhere)")
    add("--compile", action=argparse.BooleanOptionalAction, default=False,
        help="torch.compile the encoder and decoder (worth it for long GPU runs)")
    add("--seed", type=int, default=0, help="random seed (default: 0)")
    return parser


def checkpoint_path(args: argparse.Namespace) -> Path:
    return args.out if args.out is not None else Path("checkpoints") / f"vae_{args.dataset}.pt"


def load_images(args: argparse.Namespace) -> tuple[torch.Tensor, torch.Tensor]:
    """``(train, val)`` uint8 images: validation is the last ``--val-images`` of the training set."""
    if args.dataset == "cifar10":
        images, _ = load_cifar10(args.data_dir, train=True, download=args.download, hint="--dataset shapes")
    else:
        wanted = SHAPES_POOL if args.train_images is None else args.train_images + args.val_images
        images, _ = shapes_dataset(wanted, seed=0)
    if len(images) <= args.val_images:
        raise ValueError(f"--val-images {args.val_images} leaves no training images out of {len(images)}")
    train, val = images[:len(images) - args.val_images], images[len(images) - args.val_images:]
    return train[:args.train_images], val


def model_config(args: argparse.Namespace, stored: dict | None) -> VAEConfig:
    """The model to build: the command line's settings, else the checkpoint's, else the article's."""
    config = VAEConfig(**(stored or {}))
    for name in ("latent_dim", "backbone", "likelihood"):
        if getattr(args, name) is not None:
            setattr(config, name, getattr(args, name))
    return config


def train_config(args: argparse.Namespace, stored: dict | None, world_size: int) -> TrainConfig:
    """The run's settings: the command line's, else (for step sizes) the checkpoint's, else the defaults."""
    stored = stored or {}
    return TrainConfig(epochs=args.epochs, batch_size=args.batch_size // world_size,
                       lr=args.lr or stored.get("lr", DEFAULTS.lr),
                       scale_lr=args.scale_lr or stored.get("scale_lr", DEFAULTS.scale_lr),
                       beta=args.beta, kl_warmup_epochs=args.kl_warmup_epochs, free_bits=args.free_bits,
                       precision=args.precision, compile=args.compile)


def build_training(args: argparse.Namespace, device: torch.device, world_size: int
                   ) -> tuple[VAE, TrainConfig, torch.optim.Optimizer, History]:
    """A new model, config, optimiser and history, or those stored at ``--out`` when resuming."""
    path = checkpoint_path(args)
    if args.resume and not path.is_file():
        raise FileNotFoundError(f"--resume: no checkpoint at {path} (give the --out of the run to continue)")
    if not args.resume and path.exists():
        raise FileExistsError(f"{path} exists: add --resume to continue that run, or choose another --out")
    state = read_checkpoint(path) if args.resume else {}
    model = VAE(**vars(model_config(args, state.get("config"))))
    model.to(device, memory_format=torch.channels_last if device.type == "cuda" else torch.preserve_format)
    config = train_config(args, state.get("train_config"), world_size)
    optimizer = make_optimizer(model, config)
    history = History()
    if args.resume:  # raises ValueError when the command line asks for another model shape
        _, history = load_checkpoint(path, model, optimizer)
        for group, lr in zip(optimizer.param_groups, (config.lr, config.scale_lr), strict=True):
            group["lr"] = lr  # the stored state brought back the stored step sizes
    return model, config, optimizer, history


def run(args: argparse.Namespace) -> History:
    """Train as ``args`` say (see ``build_parser``); returns the history. Rank 0 writes ``--out``."""
    ranks, device = distributed.setup(args.device)
    try:
        history = train(args, ranks, device)
        distributed.wait_for_all(ranks)  # nobody leaves the group while rank 0 still saves
        return history
    finally:
        distributed.cleanup()


def load_training_images(args: argparse.Namespace,
                         ranks: distributed.Ranks) -> tuple[torch.Tensor, torch.Tensor]:
    """``load_images``; under torchrun every rank must get at least one full batch."""
    if args.batch_size % ranks.world_size:
        raise ValueError(f"--batch-size {args.batch_size} must split evenly over {ranks.world_size} ranks")
    with distributed.main_first(ranks):  # rank 0 downloads CIFAR-10, the others then read it
        train_images, val_images = load_images(args)
    if ranks.is_distributed and len(train_images) < args.batch_size:
        raise ValueError(f"{len(train_images)} training images do not give each of the {ranks.world_size} "
                         f"ranks one batch of {args.batch_size // ranks.world_size} (--batch-size "
                         f"{args.batch_size}); use more --train-images or a smaller --batch-size")
    return train_images, val_images


def train(args: argparse.Namespace, ranks: distributed.Ranks, device: torch.device) -> History:
    path = checkpoint_path(args)
    if ranks.is_main:  # a folder that cannot be written fails now, not after the first epoch
        check_writable(path, "--out")
    train_images, val_images = load_training_images(args, ranks)
    torch.manual_seed(args.seed)  # the same initial weights on every rank
    model, config, optimizer, history = build_training(args, device, ranks.world_size)
    if not args.resume or ranks.is_distributed:  # one process resumes the stored generators exactly
        torch.manual_seed(args.seed + ranks.rank + ranks.world_size * history.steps)  # noise per rank
    if ranks.is_main:
        print(describe_run(args, model, history, len(train_images), device, ranks))
    with deferred_interrupts() as presses:  # Ctrl-C: fit stops between two steps and saves
        try:
            fit(distributed.wrap(model, ranks, device), distributed.shard(train_images, ranks), config,
                val_images=val_images if ranks.is_main and len(val_images) else None, device=device,
                optimizer=optimizer, history=history, checkpoint=path if ranks.is_main else None,
                progress=ranks.is_main)
        except KeyboardInterrupt:  # raised where Ctrl-C was not deferred (a save cut short)
            history.interrupted = True
        if ranks.is_main and (history.interrupted or args.epochs == 0):  # else fit saved the last epoch
            save_checkpoint(path, model, history, optimizer, config)
    history.interrupted = history.interrupted or presses.count > 0
    if ranks.is_main:
        print(closing_line(history, path))
    return history


def describe_run(args: argparse.Namespace, model: VAE, history: History, num_images: int,
                 device: torch.device, ranks: distributed.Ranks) -> str:
    start = f"resuming after epoch {history.epochs}" if args.resume else "new run"
    where = f"{ranks.world_size} ranks on {device.type}" if ranks.is_distributed else str(device)
    return (f"{start}: {model.config} on {num_images:,} {args.dataset} images, {args.epochs} epochs "
            f"of batch {args.batch_size}, on {where}; checkpoint {checkpoint_path(args)}")


def closing_line(history: History, path: Path) -> str:
    if history.interrupted:
        return (f"interrupted: saved {path} after {history.epochs} complete epochs "
                f"({history.steps} steps); continue with the same command and --resume")
    return f"done: {history.epochs} epochs, {history.steps} steps; saved {path}"


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m vae_tutorial``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(attach_negative_numbers(sys.argv[1:] if argv is None else argv))
    try:
        history = run(args)
    except (ValueError, TypeError, OSError, NonFiniteLossError) as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # before training started: nothing to save
        print(f"{parser.prog}: interrupted before training started; nothing saved", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_INTERRUPTED if history.interrupted else 0
