"""Tool: ``python -m vae_tutorial.tools.bench``, training images/second of our pipeline against the article's.
 Every pipeline trains the same ``VAE`` (same initial
weights) on the same images and device, in one process:

* ``reference``: the article's way (``tools.reference``): a ``DataLoader`` of PIL
  images with per-item ``ToTensor`` + ``Normalize``, batch 32, fp32, plain Adam;
* one row per speed-up switched on alone on top of the reference (by default on CUDA only):
  ``fit``'s batch size, ``uint8`` data on the device, bf16 autocast, channels-last, fused
  Adam, ``torch.compile``;
* ``ours``: ``train_epoch``, the loop ``fit`` runs, with ``fit``'s settings for the device.

All are warmed up (compilation, loader start-up), then timed in interleaved rounds with
CUDA synchronised before and after each; a pipeline's speed is its median round. The two
pipelines compute the same loss (``tests/test_bench.py`` checks one step of each on
identical inputs); the reference's inputs are normalised as in the article, which changes
the numbers but not the work. A loader-fed pipeline starts each round with the batches its
workers prefetched meanwhile (2 per worker), which can only flatter the reference.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, closing
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import torch
from torch import Tensor, nn

from vae_tutorial.checks import check_positive_int, is_integer
from vae_tutorial.data import batches, load_cifar10, shapes_dataset
from vae_tutorial.history import History
from vae_tutorial.model import BACKBONES, VAE
from vae_tutorial.settings import is_quick
from vae_tutorial.tools.estimate import format_duration
from vae_tutorial.tools.hardware import device_name, peak_bf16_flops, training_flops_per_image
from vae_tutorial.tools.reference import (
    ARTICLE_BATCH_SIZE,
    ARTICLE_LR,
    article_loader,
    article_loss,
    article_num_workers,
    article_step,
)
from vae_tutorial.train import (
    TrainConfig,
    autocast_dtype,
    compile_networks,
    default_device,
    make_optimizer,
    train_epoch,
)

PROJECTED_EPOCHS = 18  # the article shows its samples after 18 epochs
PROJECTED_IMAGES = 50_000  # CIFAR-10's training set
FIT_DEFAULTS = TrainConfig()  # fit's settings: batch size, step sizes
# Speed-ups, each timed alone on top of the reference, with their labels for the table.
SPEEDUPS = {
    "batch_size": "+ fit's batch size",
    "device_data": "+ uint8 data on the device",
    "bf16": "+ bf16 autocast",
    "channels_last": "+ channels-last",
    "fused_adam": "+ fused Adam",
    "compile": "+ torch.compile",
}


@dataclass(frozen=True)
class Sizes:
    """How much one benchmark run measures."""

    num_images: int  # images both pipelines draw from (CIFAR-10's 50,000 by default)
    warmup_steps: int  # untimed steps first: compilation, loader workers, allocator
    measure_steps: int  # timed steps per round, in batches of each pipeline's own size
    rounds: int  # timed rounds, interleaved across pipelines; each reports its median round
    backbone: str  # the VAE every pipeline trains


FULL = Sizes(num_images=50_000, warmup_steps=10, measure_steps=100, rounds=3, backbone="resnet18")
QUICK = Sizes(num_images=4_096, warmup_steps=2, measure_steps=4, rounds=5, backbone="small")


@dataclass(frozen=True)
class Pipeline:
    """One way to train: where the batches come from and which speed-ups are on."""

    name: str  # "reference", "ours", or the name of the one speed-up (a key of SPEEDUPS)
    batch_size: int
    device_data: bool = False  # uint8 images on the device (data.batches), not a DataLoader
    bf16: bool = False  # bf16 autocast around the forward pass
    channels_last: bool = False  # NHWC memory layout for the model and its input
    fused_adam: bool = False  # Adam's fused kernel: one launch for all parameters
    compile: bool = False  # torch.compile the encoder and decoder
    ours: bool = False  # run the project's train_epoch; else the article's step

    def describe(self) -> str:
        """The pipeline in a few words, for the table."""
        parts = ["uint8 on the device" if self.device_data else "DataLoader of PIL images",
                 f"batch {self.batch_size}", "bf16" if self.bf16 else "fp32"]
        parts += [label for flag, label in ((self.channels_last, "channels-last"),
                                            (self.fused_adam, "fused Adam"),
                                            (self.compile, "compile")) if flag]
        return ", ".join(parts)


@dataclass
class Timing:
    """What one pipeline's run measured."""

    images_per_s: float  # images trained per second, median over the rounds
    round_images_per_s: list[float]  # each round's images per second
    images: int  # images trained in each round
    warmup_s: float  # wall time of the warm-up steps (compilation, workers' start-up)


# ---------------------------------------------------------------------------------------
# Which pipelines to run
# ---------------------------------------------------------------------------------------

def plan(device: torch.device, batch_size: int, speedups: Sequence[str], compile: bool) -> list[Pipeline]:
    """The reference, each speed-up alone on top of it, then ours with ``fit``'s settings."""
    reference = Pipeline("reference", ARTICLE_BATCH_SIZE)
    alone = [replace(reference, name=name, batch_size=batch_size) if name == "batch_size"
             else replace(reference, name=name, **{name: True}) for name in speedups]
    on_cuda = device.type == "cuda"
    ours = Pipeline("ours", batch_size, device_data=True,
                    bf16=autocast_dtype(FIT_DEFAULTS.precision, device) is not None,  # fit's precision
                    channels_last=on_cuda,  # fit's default channels_last
                    fused_adam=on_cuda,  # make_optimizer's choice
                    compile=compile, ours=True)
    return [reference, *alone, ours]


# ---------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------

def timed(device: torch.device, run: Callable[[], object]) -> float:
    """Wall time of ``run()``, with the GPU's queue drained before and after."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    run()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def ours_runner(pipeline: Pipeline, model: nn.Module, images_on_device: Tensor) -> Callable[[int], None]:
    """``run(steps)``: ``train_epoch`` (what ``fit`` runs) over the first ``steps`` batches."""
    precision = "bf16" if pipeline.bf16 else "fp32"
    config = replace(FIT_DEFAULTS, batch_size=pipeline.batch_size, precision=precision,
                     channels_last=pipeline.channels_last)
    optimizer = make_optimizer(model, config)  # fit's optimiser: fused on CUDA
    history = History()

    def run(steps: int) -> None:
        train_epoch(model, optimizer, images_on_device[:steps * config.batch_size], config, history, False)
    return run


def article_batches(pipeline: Pipeline, images: Tensor, images_on_device: Tensor,
                    num_workers: int) -> Iterator[Tensor]:
    """Float batches on the device, epoch after epoch: from the article's loader or from the
    uint8 images already on the device (``data.batches``)."""
    device = images_on_device.device
    memory_format = torch.channels_last if pipeline.channels_last else torch.contiguous_format
    while True:  # one pass of this loop is one epoch
        if pipeline.device_data:
            epoch = batches(images_on_device, pipeline.batch_size)
        else:  # a new loader each epoch, so new worker processes, as in the article's training
            pin = device.type == "cuda"  # page-locked host memory, as the article's data module asks
            loader = article_loader(images, pipeline.batch_size, num_workers, pin_memory=pin)
            epoch = (x.to(device, non_blocking=True) for x, _ in loader)  # labels are unused
        for x in epoch:
            yield x.contiguous(memory_format=memory_format)


def bf16_loss(device_type: str) -> Callable[[nn.Module, Tensor], Tensor]:
    """``article_loss`` with its forward pass under bf16 autocast."""
    def loss(model: nn.Module, x: Tensor) -> Tensor:
        with torch.autocast(device_type, dtype=torch.bfloat16):
            return article_loss(model, x)
    return loss


def article_runner(pipeline: Pipeline, model: nn.Module, stream: Iterator[Tensor]) -> Callable[[int], None]:
    """``run(steps)``: the article's step on the next ``steps`` batches of ``stream``."""
    device_type = next(model.parameters()).device.type
    optimizer = torch.optim.Adam(model.parameters(), lr=ARTICLE_LR, fused=pipeline.fused_adam or None)
    loss_fn = bf16_loss(device_type) if pipeline.bf16 else article_loss

    def run(steps: int) -> None:
        for _ in range(steps):
            article_step(model, optimizer, next(stream), loss_fn)
    return run


def prepare(pipeline: Pipeline, template: VAE, device: torch.device) -> VAE:
    """A copy of ``template`` (the same initial weights for every pipeline), laid out and compiled."""
    memory_format = torch.channels_last if pipeline.channels_last else torch.preserve_format
    model = copy.deepcopy(template).to(device, memory_format=memory_format).train()
    if pipeline.compile:
        compile_networks(model)  # what fit(compile=True) does
    return model


def measure(runners: dict[Pipeline, Callable[[int], None]], device: torch.device, sizes: Sizes,
            log: Callable[[str], object]) -> list[tuple[Pipeline, Timing]]:
    """Warm every pipeline up, then time them in interleaved rounds; each gets its median round.

    Interleaving makes a change in the machine's load (other programs, clocks) hit every
    pipeline alike, and the median ignores one disturbed round.
    """
    warmup_s = {}
    for pipeline, run in runners.items():
        log(f"warming up {pipeline.name}: {pipeline.describe()}")
        warmup_s[pipeline] = timed(device, partial(run, sizes.warmup_steps))
    seconds = {pipeline: [] for pipeline in runners}
    for round_index in range(sizes.rounds):
        log(f"round {round_index + 1} of {sizes.rounds}")
        for pipeline, run in runners.items():
            seconds[pipeline].append(timed(device, partial(run, sizes.measure_steps)))
    return [(pipeline, timing_of(pipeline.batch_size * sizes.measure_steps, seconds[pipeline],
                                 warmup_s[pipeline])) for pipeline in runners]


def timing_of(images: int, round_seconds: list[float], warmup_s: float) -> Timing:
    """Images/second of the median round, and every round's, from their wall times."""
    rates = [images / seconds for seconds in round_seconds]
    return Timing(statistics.median(rates), rates, images, warmup_s)


# ---------------------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------------------

def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` -> the GPU when there is one; else ``"cpu"``, ``"cuda"`` or ``"cuda:N"``, checked."""
    if device is None:
        return default_device()
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}") from error
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {str(device)!r}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(device)!r} was asked for, but PyTorch sees no CUDA GPU")
    return device


def check_arguments(backbone: str, batch_size: int, sizes: Sizes, speedups: Sequence[str],
                    num_workers: int | None) -> None:
    """Raise ``ValueError`` naming the argument that is wrong, what it must be and what came in."""
    if backbone not in BACKBONES:
        raise ValueError(f"backbone must be one of {sorted(BACKBONES)}, got {backbone!r}")
    for value, what in ((batch_size, "batch_size"), (sizes.num_images, "num_images"),
                        (sizes.warmup_steps, "warmup_steps"), (sizes.measure_steps, "measure_steps"),
                        (sizes.rounds, "rounds")):
        check_positive_int(value, what)
    unknown = [name for name in speedups if name not in SPEEDUPS]
    if unknown:
        raise ValueError(f"ablations must be names from {list(SPEEDUPS)}, got {unknown}")
    if num_workers is not None and (not is_integer(num_workers) or num_workers < 0):
        raise ValueError(f"num_workers must be a non-negative integer or None, got {num_workers!r}")
    needed = max(sizes.warmup_steps, sizes.measure_steps) * max(batch_size, ARTICLE_BATCH_SIZE)
    if sizes.num_images < needed:
        raise ValueError(f"num_images must be at least max(warmup_steps, measure_steps) x batch size "
                         f"= {needed}: ours runs that many steps in one epoch, got {sizes.num_images}")


def benchmark_images(num_images: int, data_root: str | Path) -> tuple[Tensor, str]:
    """The first ``num_images`` CIFAR-10 training images when on disk, else shapes of the same size.

    Speed depends on the images' size, not their content, so the shapes stand in for
    CIFAR-10 offline; the result says which one was used.
    """
    try:
        images, _ = load_cifar10(data_root, train=True, download=False)
    except FileNotFoundError:
        return shapes_dataset(num_images)[0], "shapes"
    if num_images > len(images):
        raise ValueError(f"num_images must be at most CIFAR-10's {len(images)}, got {num_images}")
    return images[:num_images], "cifar10"


# ---------------------------------------------------------------------------------------
# The benchmark
# ---------------------------------------------------------------------------------------

def run_benchmark(device: str | torch.device | None = None, backbone: str = FULL.backbone,
                  batch_size: int | None = None, num_images: int = FULL.num_images,
                  warmup_steps: int = FULL.warmup_steps, measure_steps: int = FULL.measure_steps,
                  rounds: int = FULL.rounds, ablations: Sequence[str] | None = None,
                  compile: bool | None = None,
                  num_workers: int | None = None, data_root: str | Path = "data",
                  log: Callable[[str], object] | None = None) -> dict:
    """Time the reference pipeline, each speed-up alone, and ours; returns a JSON-able dict (lesson 3).

    ``device``: default the GPU when there is one; ``backbone``: the VAE every pipeline trains;
    ``batch_size``: ours (default ``fit``'s), the reference keeps the article's 32; ``num_images``:
    CIFAR-10 when on disk under ``data_root``, else shapes; ``warmup_steps`` untimed steps, then
    ``rounds`` interleaved rounds of ``measure_steps`` (each pipeline reports its median round);
    ``ablations``: names from ``SPEEDUPS`` to time alone (default all on CUDA, none elsewhere);
    ``compile``: default on CUDA; ``num_workers``: the reference's (default the article's 16,
    capped at the CPUs); ``log``: called with progress lines. The result holds ``images_per_s``
    per pipeline, ``ratio`` (ours / reference), ``projected_18_epochs_s``, ``speedups``, ``mfu``
    (CUDA only) and every pipeline's details; ``results_table`` formats it.
    """
    device = resolve_device(device)
    batch_size = FIT_DEFAULTS.batch_size if batch_size is None else batch_size
    speedups = (tuple(SPEEDUPS) if device.type == "cuda" else ()) if ablations is None else tuple(ablations)
    sizes = Sizes(num_images, warmup_steps, measure_steps, rounds, backbone)
    check_arguments(backbone, batch_size, sizes, speedups, num_workers)
    compile = device.type == "cuda" if compile is None else compile
    num_workers = article_num_workers() if num_workers is None else num_workers
    images, dataset = benchmark_images(num_images, data_root)
    runs = time_pipelines(plan(device, batch_size, speedups, compile), VAE(backbone=backbone), images, device,
                          sizes, num_workers, log or (lambda line: None))
    context = {"device": device_name(device), "device_type": device.type, "torch": torch.__version__,
               "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "backbone": backbone,
               "dataset": dataset, "num_images": num_images, "warmup_steps": warmup_steps,
               "measure_steps": measure_steps, "rounds": rounds, "reference_workers": num_workers,
               "flops_per_image": training_flops_per_image(backbone)}
    return summarise(runs, context)


def pipeline_row(pipeline: Pipeline, timing: Timing, reference: Timing, flops: float,
                 peak: float | None) -> dict:
    """One pipeline's numbers as plain JSON values."""
    ips = timing.images_per_s
    return {"description": pipeline.describe(), "batch_size": pipeline.batch_size,
            "images_per_s": round(ips, 2), "speedup": round(ips / reference.images_per_s, 3),
            "projected_18_epochs_s": round(PROJECTED_EPOCHS * PROJECTED_IMAGES / ips, 1),
            "mfu": round(ips * flops / peak, 4) if peak else None,
            "round_images_per_s": [round(rate, 2) for rate in timing.round_images_per_s],
            "images_per_round": timing.images, "warmup_s": round(timing.warmup_s, 2)}


def time_pipelines(pipelines: list[Pipeline], template: VAE, images: Tensor, device: torch.device,
                   sizes: Sizes, num_workers: int,
                   log: Callable[[str], object]) -> list[tuple[Pipeline, Timing]]:
    """Build a runner per pipeline, each on its own copy of ``template``, and time them all."""
    images_on_device = images.to(device)
    with ExitStack() as streams:  # closing a stream stops its loader's worker processes
        runners = {}
        for pipeline in pipelines:
            model = prepare(pipeline, template, device)
            if pipeline.ours:
                runners[pipeline] = ours_runner(pipeline, model, images_on_device)
            else:
                stream = article_batches(pipeline, images, images_on_device, num_workers)
                runners[pipeline] = article_runner(pipeline, model, streams.enter_context(closing(stream)))
        return measure(runners, device, sizes, log)


def summarise(runs: list[tuple[Pipeline, Timing]], context: dict) -> dict:
    """The result dict: context, headline numbers, and every pipeline's row."""
    reference = runs[0][1]
    peak = peak_bf16_flops(context["device"]) if context["device_type"] == "cuda" else None
    rows = {pipeline.name: pipeline_row(pipeline, timing, reference, context["flops_per_image"], peak)
            for pipeline, timing in runs}
    return {**context, "peak_bf16_flops": peak,
            "images_per_s": {name: row["images_per_s"] for name, row in rows.items()},
            "ratio": rows["ours"]["speedup"],
            "projected_18_epochs_s": {name: rows[name]["projected_18_epochs_s"]
                                      for name in ("reference", "ours")},
            "speedups": {name: row["speedup"] for name, row in rows.items() if name in SPEEDUPS},
            "mfu": {name: row["mfu"] for name, row in rows.items()} if peak else None,
            "pipelines": rows}


# ---------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------

def results_table(result: dict) -> str:
    """A caption line and a markdown table of ``run_benchmark``'s result, one row per pipeline."""
    if not isinstance(result, dict) or "pipelines" not in result:
        raise TypeError(f"result must be the dict run_benchmark returns, got {type(result).__name__}")
    caption = (f"{result['device']} · torch {result['torch']} · {result['backbone']} VAE · "
               f"{result['num_images']:,} {result['dataset']} images · "
               f"{result['flops_per_image'] / 1e9:.2f} GFLOP per training image")
    columns = ("pipeline", "how it trains", "images/s", "× reference", "18 epochs of 50,000", "warm-up",
               "MFU (bf16)")
    lines = [caption, "", "| " + " | ".join(columns) + " |", "| --- | --- |" + " ---: |" * 5]
    for name, row in result["pipelines"].items():
        mfu = f"{100 * row['mfu']:.1f} %" if row["mfu"] is not None else "–"
        lines.append(f"| {SPEEDUPS.get(name, name)} | {row['description']} | {row['images_per_s']:,.1f} | "
                     f"{row['speedup']:.2f} | {format_duration(row['projected_18_epochs_s'])} | "
                     f"{row['warmup_s']:.1f} s | {mfu} |")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vae_tutorial.tools.bench",
        description="Training images/second of our pipeline and of the article's, on one device. "
                    "Prints a table, then one JSON object as the last line.")
    parser.add_argument("--quick", action="store_true",
                        help=f"small run ({QUICK.num_images:,} images, {QUICK.backbone} backbone unless "
                             "--backbone is given); also on when VAE_TUTORIAL_QUICK=1")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: the GPU when there is one)")
    parser.add_argument("--backbone", choices=sorted(BACKBONES),
                        help=f"the VAE (default {FULL.backbone}; {QUICK.backbone} with --quick)")
    parser.add_argument("--batch-size", type=int,
                        help=f"ours (default {FIT_DEFAULTS.batch_size}); the reference keeps the article's")
    parser.add_argument("--ablations", type=parse_ablations,
                        help=f"speed-ups to time alone: 'all', 'none' or a comma-separated list of "
                             f"{', '.join(SPEEDUPS)} (default: all on CUDA, none elsewhere)")
    parser.add_argument("--json", type=Path, help="also write the JSON result to this file")
    return parser


def parse_ablations(text: str) -> tuple[str, ...]:
    """``"all"``, ``"none"`` or ``"bf16,compile"`` -> a tuple of SPEEDUPS names (checked later)."""
    if text == "all":
        return tuple(SPEEDUPS)
    return () if text == "none" else tuple(name.strip() for name in text.split(",") if name.strip())


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick or is_quick() else FULL
    try:
        if sizes is FULL and resolve_device(args.device).type == "cpu":
            print("note: the full benchmark trains the article's ResNet-18 VAE on the CPU, which takes "
                  "hours; --quick takes about a minute", file=sys.stderr)
        result = run_benchmark(device=args.device, backbone=args.backbone or sizes.backbone,
                               batch_size=args.batch_size, num_images=sizes.num_images,
                               warmup_steps=sizes.warmup_steps, measure_steps=sizes.measure_steps,
                               rounds=sizes.rounds, ablations=args.ablations,
                               log=lambda line: print(line, file=sys.stderr, flush=True))
    except ValueError as error:
        parser.error(str(error))  # exits with status 2 and the message
    line = json.dumps(result)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(line + "\n")
    print(results_table(result))
    print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
