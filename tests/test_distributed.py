"""DistributedDataParallel under torchrun: two CPU processes on gloo (issue 6).

The end-to-end test starts the command line (``python -m vae_tutorial``) under ``torchrun`` with two
ranks and checks three things: the first optimiser step equals the step a single process
computes from the same images (the mean of the two shards' gradients), the epoch's ELBO
is the mean over both shards, and only rank 0 writes files or prints the summary.
"""

import json
import subprocess
import sys
import textwrap

import pytest
import torch

from vae_tutorial import VAE, fit, save_checkpoint
from vae_tutorial.checkpoint import load_checkpoint, read_checkpoint
from vae_tutorial.tools.distributed import Ranks, main_first, ranks_from_env, shard, wrap
from vae_tutorial.train import TrainConfig, make_optimizer

SEED = 0
RUN = ["--dataset", "shapes", "--train-images", "16", "--val-images", "0", "--batch-size", "16",
       "--epochs", "1", "--device", "cpu", "--seed", str(SEED), "--resume"]

# Runs the command line in a torchrun worker while recording, through Python's audit hooks,
# every file this process opens for writing or renames inside the watched folder.
WORKER = textwrap.dedent("""
    import json, os, sys

    watched, log_prefix = os.path.abspath(sys.argv.pop(1)), sys.argv.pop(1)
    writes = []
    WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT

    def record(event, args):
        if event not in ("open", "os.rename") or not isinstance(args[0], (str, os.PathLike)):
            return
        path = os.path.abspath(os.fspath(args[0]))
        writing = event == "os.rename" or any(c in (args[1] or "") for c in "wax+") or args[2] & WRITE_FLAGS
        if path.startswith(watched) and writing:
            writes.append([event, path])

    sys.addaudithook(record)
    from vae_tutorial.tools.cli import main
    status = main()
    with open(f"{log_prefix}{os.environ['RANK']}.json", "w") as file:
        json.dump(writes, file)
    sys.exit(status)
""")


def test_ranks_from_env():
    assert ranks_from_env({}) == Ranks(0, 1, 0)
    ranks = ranks_from_env({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"})
    assert (ranks.rank, ranks.world_size, ranks.local_rank, ranks.is_main) == (3, 4, 1, False)
    with pytest.raises(ValueError, match="RANK must be in 0 .. WORLD_SIZE - 1"):
        ranks_from_env({"RANK": "2", "WORLD_SIZE": "2"})


def test_shards_are_disjoint_equal_and_cover_the_data():
    images = torch.arange(11)
    shards = [shard(images, Ranks(rank, 3)) for rank in range(3)]
    assert [len(s) for s in shards] == [3, 3, 3]  # 11 % 3 = 2 images dropped: equal step counts
    assert sorted(torch.cat(shards).tolist()) == list(range(9))
    assert torch.equal(shard(images, Ranks()), images)  # one process: everything


def test_single_process_helpers_do_nothing():
    model = VAE(latent_dim=4, backbone="small")
    assert wrap(model, Ranks(), torch.device("cpu")) is model
    with main_first(Ranks()):
        pass  # no process group needed, no barrier


def one_step_on_shard(checkpoint, images, rank) -> dict:
    """What rank ``rank`` computes alone: one step of fit on its shard, with its seed."""
    model, history = load_checkpoint(checkpoint)
    optimizer = make_optimizer(model, TrainConfig(lr=1e-3, scale_lr=1e-2))
    load_checkpoint(checkpoint, model, optimizer)
    torch.manual_seed(SEED + rank)  # the command line seeds each rank's noise like this
    history = fit(model, shard(images, Ranks(rank, 2)), TrainConfig(epochs=1, batch_size=8), device="cpu",
                  progress=False, optimizer=optimizer, history=history)
    gradients = {k: state["exp_avg"] / 0.1 for k, state in optimizer.state_dict()["state"].items()}
    return {"gradients": gradients, "elbo": history.train["elbo"][0]}  # Adam: exp_avg = 0.1 g


@pytest.fixture
def start_checkpoint(tmp_path):
    """A fresh small VAE and Adam state to resume from: both runs start from the same weights."""
    torch.manual_seed(SEED)
    model = VAE(latent_dim=8, backbone="small")
    path = tmp_path / "ddp" / "vae.pt"
    save_checkpoint(path, model, optimizer=make_optimizer(model, TrainConfig(lr=1e-3, scale_lr=1e-2)))
    return path


def run_torchrun(tmp_path, checkpoint) -> subprocess.CompletedProcess:
    worker = tmp_path / "worker.py"
    worker.write_text(WORKER)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               str(worker), str(checkpoint.parent), str(tmp_path / "writes_rank"),
               *RUN, "--out", str(checkpoint)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path)


def test_two_ranks_take_the_single_process_step_and_only_rank_0_writes(tmp_path, start_checkpoint):
    from vae_tutorial.tools.cli import build_parser, load_images

    images, _ = load_images(build_parser().parse_args(RUN))  # the 16 images both ranks split
    expected = [one_step_on_shard(start_checkpoint, images, rank) for rank in (0, 1)]
    result = run_torchrun(tmp_path, start_checkpoint)
    assert result.returncode == 0, result.stderr[-3000:]

    state = read_checkpoint(start_checkpoint)
    history = state["history"]
    assert len(history["train"]["elbo"]) == 1 and history["steps"] == 1
    # The loss DDP reports is the mean over both shards, i.e. over all 16 images ...
    assert history["train"]["elbo"][0] == pytest.approx((expected[0]["elbo"] + expected[1]["elbo"]) / 2,
                                                        rel=1e-5)
    # ... and its gradient the mean of the shards' gradients: one process's gradient on all 16.
    for key, adam in state["optimizer"]["state"].items():
        single = (expected[0]["gradients"][key] + expected[1]["gradients"][key]) / 2
        tolerance = 1e-4 * single.abs().max().item()
        torch.testing.assert_close(adam["exp_avg"] / 0.1, single, rtol=1e-4, atol=tolerance)

    writes = {rank: json.loads((tmp_path / f"writes_rank{rank}.json").read_text()) for rank in (0, 1)}
    assert writes[1] == [], "rank 1 must not write"
    assert any(event == "os.rename" for event, _ in writes[0])  # rank 0 saved (atomically)
    assert result.stdout.count("epoch 1:") == 1  # one summary line: rank 0 prints, rank 1 does not


# Each rank records what the command line returned, so the test sees the workers' own exit status
# (torchrun itself reports a Ctrl-C with its own SignalException traceback and status 1).
STATUS_WORKER = textwrap.dedent("""
    import os, sys

    status_prefix = sys.argv.pop(1)
    with open(f"{status_prefix}{os.environ['RANK']}.pid", "w") as file:
        file.write(str(os.getpid()))
    from vae_tutorial.tools.cli import main
    status = main()
    with open(f"{status_prefix}{os.environ['RANK']}", "w") as file:
        file.write(str(status))
    sys.exit(status)
""")


def test_ctrl_c_on_one_rank_stops_every_rank_at_the_same_step_and_exits_130(tmp_path):
    """SIGINT to rank 1 alone (the hardest case: a terminal's Ctrl-C reaches every rank, and torchrun
    forwards it once more, at slightly different moments): the ranks agree to stop between the same
    two steps, rank 0 saves, and no rank is left waiting in a collective for one that has left."""
    import os
    import signal
    import time

    worker, out = tmp_path / "worker.py", tmp_path / "vae.pt"
    worker.write_text(STATUS_WORKER)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               str(worker), str(tmp_path / "status_rank"), "--dataset", "shapes", "--backbone", "small",
               "--latent-dim", "8", "--train-images", "64", "--val-images", "16", "--batch-size", "32",
               "--epochs", "1000", "--device", "cpu", "--out", str(out)]
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               cwd=tmp_path, start_new_session=True, env=environment)
    deadline = time.monotonic() + 120
    while not out.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)  # the checkpoint appears after the first epoch
    assert out.exists(), process.communicate(timeout=60)
    time.sleep(0.3)
    os.kill(int((tmp_path / "status_rank1.pid").read_text()), signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    statuses = [(tmp_path / f"status_rank{rank}").read_text() for rank in (0, 1)]
    assert statuses == ["130", "130"], stderr[-3000:]
    assert "interrupted: saved" in stdout
    state = read_checkpoint(out)
    steps = {float(s["step"]) for s in state["optimizer"]["state"].values()}
    assert state["history"]["interrupted"] and steps == {float(state["history"]["steps"])}
