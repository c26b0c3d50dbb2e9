"""The benchmark: same work in both pipelines, its plan and arithmetic, its CLI. No timing asserts."""

import copy
import json
import math
import os
import subprocess
import sys

import pytest
import torch

from vae_tutorial import VAE, shapes_dataset, to_unit_interval
from vae_tutorial.tools.bench import (
    SPEEDUPS,
    Timing,
    main,
    plan,
    results_table,
    run_benchmark,
    summarise,
)
from vae_tutorial.tools.hardware import peak_bf16_flops, training_flops_per_image
from vae_tutorial.tools.reference import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    PILImages,
    article_loader,
    article_step,
)
from vae_tutorial.train import train_step


def one_step_each(backbone, autocast_dtype=None, channels_last=False, fused=False, batch_size=4):
    """One step of ours (train_step) and of the article's (article_step) on identical float inputs.

    The article feeds normalised pixels and we feed dequantised [0, 1) pixels: different
    values, the same arithmetic. So both steps get the same ``x`` here, the same initial
    weights and the same random draw of z (the generator is reseeded before each step).
    Returns ``(loss, gradients, parameters after the step)`` for ours and for the article's.
    """
    images, _ = shapes_dataset(batch_size, seed=3)
    x = to_unit_interval(images)  # (B, 3, 32, 32)
    # fit's epoch hands train_step channels-last batches when the model is channels-last.
    x_ours = x.contiguous(memory_format=torch.channels_last) if channels_last else x
    ours = VAE(backbone=backbone)
    article = copy.deepcopy(ours)
    if channels_last:
        ours.to(memory_format=torch.channels_last)
    results = []
    for model, step in ((ours, "ours"), (article, "article")):
        torch.manual_seed(7)
        if step == "ours":
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, fused=fused or None)
            loss = train_step(model, optimizer, x_ours, 1.0, autocast_dtype).loss.detach()
        else:
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)  # the article's plain Adam, fp32
            loss = article_step(model, optimizer, x)
        grads = {name: p.grad.clone() for name, p in model.named_parameters()}
        params = {name: p.detach().clone() for name, p in model.named_parameters()}
        results.append((loss, grads, params))
    return results


@pytest.mark.parametrize("backbone", ["small", "resnet18"])
def test_one_step_of_each_pipeline_computes_the_same_loss_gradients_and_update(backbone):
    """fp32, as on the CPU: equal to float32 rounding (the sums run in a different order)."""
    (loss, grads, params), (ref_loss, ref_grads, ref_params) = one_step_each(backbone)
    torch.testing.assert_close(loss, ref_loss, rtol=1e-6, atol=0.0)
    assert grads.keys() == ref_grads.keys() and len(grads) > 10
    for name in grads:
        scale = ref_grads[name].abs().max().item()
        torch.testing.assert_close(grads[name], ref_grads[name], rtol=1e-4, atol=1e-5 * scale, msg=name)
        # Adam's first step moves each weight by about lr = 1e-4; both moved it the same way.
        torch.testing.assert_close(params[name], ref_params[name], rtol=0.0, atol=1e-7, msg=name)


def test_the_cuda_speedups_change_precision_not_the_computation():
    """bf16 autocast, channels-last and fused Adam (our CUDA path), run on the CPU, against the
    article's fp32 step: the loss to 0.1 % and the gradient to a cosine similarity above 0.999."""
    (loss, grads, params), (ref_loss, ref_grads, _) = one_step_each(
        "small", autocast_dtype=torch.bfloat16, channels_last=True, fused=True)
    torch.testing.assert_close(loss, ref_loss, rtol=1e-3, atol=0.0)
    ours = torch.cat([g.flatten() for g in grads.values()])
    article = torch.cat([ref_grads[name].flatten() for name in grads])
    assert torch.nn.functional.cosine_similarity(ours, article, dim=0) > 0.999
    assert all(torch.isfinite(p).all() for p in params.values())


def test_the_reference_dataset_normalises_each_image_as_the_article_does(shapes_small):
    images = shapes_small[0][:40]
    dataset = PILImages(images)
    mean = torch.tensor(CIFAR10_MEAN)[:, None, None]
    std = torch.tensor(CIFAR10_STD)[:, None, None]
    x, label = dataset[5]
    torch.testing.assert_close(x, (images[5].float() / 255 - mean) / std, rtol=0.0, atol=1e-5)
    assert label == 0 and len(dataset) == 40
    loader = article_loader(images, num_workers=0)  # batch 32, shuffled, drop_last
    assert [tuple(x.shape) for x, _ in loader] == [(32, 3, 32, 32)]


def test_flop_count_matches_a_count_by_hand():
    """Small backbone, multiply-adds per image, layer by layer (convolutions: output pixels x
    in x out channels x 4 x 4; transposed: input pixels x ...; linear: in x out)."""
    encoder = 16 * 16 * 3 * 32 * 16 + 8 * 8 * 32 * 64 * 16 + 4 * 4 * 64 * 128 * 16 + 2048 * 256
    heads = 2 * 256 * 256  # fc_mu and fc_var, latent 256
    decoder = 256 * 2048 + 4 * 4 * 128 * 64 * 16 + 8 * 8 * 64 * 32 * 16 + 16 * 16 * 32 * 3 * 16
    forward = 2 * (encoder + heads + decoder)  # FLOPs: 2 per multiply-add
    first_conv = 2 * 16 * 16 * 3 * 32 * 16  # the input needs no gradient, so this layer's is skipped
    expected = 3 * forward - first_conv  # backward: gradients of inputs and of weights
    assert training_flops_per_image("small") == expected


def test_flop_count_of_the_article_model_is_about_7_8_gflop():
    assert training_flops_per_image("resnet18") == pytest.approx(7.8e9, rel=0.01)


def test_peak_table_knows_the_usual_gpus():
    assert peak_bf16_flops("NVIDIA H100 80GB HBM3") == 989e12
    assert peak_bf16_flops("NVIDIA H100 PCIe") == 756e12
    assert peak_bf16_flops("NVIDIA H200") == 989e12
    assert peak_bf16_flops("NVIDIA A100-SXM4-80GB") == 312e12
    assert peak_bf16_flops("NVIDIA L4") == 121e12
    assert peak_bf16_flops("NVIDIA L40S") == 362e12
    assert peak_bf16_flops("NVIDIA A10G") is None and peak_bf16_flops("Tesla T4") is None


def test_on_cuda_ours_has_every_speedup_and_each_ablation_exactly_one(monkeypatch):
    """The plan for a GPU with bf16 hardware (an H100), checked without one: flags are plain data."""
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    pipelines = plan(torch.device("cuda"), 128, tuple(SPEEDUPS), compile=True)
    reference, *alone, ours = pipelines
    assert (reference.name, reference.batch_size, ours.name) == ("reference", 32, "ours")
    assert ours.ours and ours.batch_size == 128
    assert all(getattr(ours, flag) for flag in SPEEDUPS if flag != "batch_size")
    for pipeline, name in zip(alone, SPEEDUPS, strict=True):
        changed = {flag for flag in SPEEDUPS if getattr(pipeline, flag) != getattr(reference, flag)}
        assert pipeline.name == name and changed == {name}
    cpu_ours = plan(torch.device("cpu"), 128, (), compile=False)[-1]
    assert not (cpu_ours.bf16 or cpu_ours.channels_last or cpu_ours.fused_adam)  # fit's CPU path


def test_summary_arithmetic_on_a_gpu_result():
    """Ratio, 18-epoch projection and MFU from made-up GPU timings, against hand arithmetic."""
    reference, ours = plan(torch.device("cuda"), 128, (), compile=True)
    runs = [(reference, Timing(4_000.0, [3_900.0, 4_000.0, 4_100.0], 3_200, 5.0)),
            (ours, Timing(20_000.0, [20_000.0] * 3, 12_800, 60.0))]
    context = {"device": "NVIDIA H100 80GB HBM3", "device_type": "cuda", "torch": "2.x",
               "backbone": "resnet18", "dataset": "shapes", "num_images": 50_000, "flops_per_image": 7.8e9}
    result = summarise(runs, context)
    assert result["ratio"] == 5.0
    assert result["projected_18_epochs_s"] == {"reference": 225.0, "ours": 45.0}  # 900,000 images
    assert result["mfu"]["ours"] == pytest.approx(20_000 * 7.8e9 / 989e12, abs=1e-4)  # about 15.8 %
    table = results_table(result)
    assert "| ours |" in table and "| 45 s |" in table and "| 15.8 % |" in table and "3.8 min" in table


def test_run_benchmark_runs_every_cpu_pipeline_and_tabulates_it():
    """Every ablation but compile (test_train checks compile on the CPU), tiny sizes."""
    speedups = [name for name in SPEEDUPS if name != "compile"]
    result = run_benchmark(device="cpu", backbone="small", batch_size=16, num_images=64,
                           warmup_steps=1, measure_steps=1, rounds=3, ablations=speedups, num_workers=0)
    assert list(result["pipelines"]) == ["reference", *speedups, "ours"]
    assert list(result["speedups"]) == speedups and result["mfu"] is None
    ips = result["images_per_s"]
    assert all(value > 0 for value in ips.values())
    assert result["ratio"] == pytest.approx(ips["ours"] / ips["reference"], rel=0.01)
    assert result["projected_18_epochs_s"]["ours"] == pytest.approx(18 * 50_000 / ips["ours"], rel=0.01)
    assert result["pipelines"]["batch_size"]["batch_size"] == 16
    rounds = result["pipelines"]["ours"]["round_images_per_s"]
    assert len(rounds) == 3 and ips["ours"] == pytest.approx(sorted(rounds)[1], rel=1e-3)  # the median
    table = results_table(json.loads(json.dumps(result)))  # JSON round trip: plain values only
    assert table.count("\n| ") == len(speedups) + 4  # header, rule, reference, speed-ups, ours
    assert "+ bf16 autocast" in table and "shapes" in table


@pytest.mark.parametrize("kwargs, message", [
    ({"device": "tpu"}, "device must be"),
    ({"backbone": "vgg"}, "backbone must be one of"),
    ({"batch_size": 0}, "batch_size must be a positive integer"),
    ({"measure_steps": 2.5}, "measure_steps must be a positive integer"),
    ({"rounds": 0}, "rounds must be a positive integer"),
    ({"num_images": 100}, "num_images must be at least"),
    ({"ablations": ["turbo"]}, "ablations must be names from"),
    ({"num_workers": -1}, "num_workers must be"),
])
def test_run_benchmark_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        run_benchmark(**{"device": "cpu", **kwargs})


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without a GPU")
def test_asking_for_a_missing_gpu_is_a_clear_error():
    with pytest.raises(ValueError, match="no CUDA GPU"):
        run_benchmark(device="cuda")


def test_results_table_rejects_what_is_not_a_result():
    with pytest.raises(TypeError, match="dict run_benchmark returns"):
        results_table("fast")


@pytest.mark.parametrize("argv, message", [
    (["--device", "tpu"], "device must be"),
    (["--backbone", "vgg"], "invalid choice"),
    (["--batch-size", "0"], "batch_size must be a positive integer"),
    (["--ablations", "bf16,turbo"], "ablations must be names from"),
])
def test_cli_rejects_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--quick", *argv])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_quick_cli_prints_a_table_and_json_as_its_last_line(tmp_path):
    """What `make test` runs: the benchmark in quick mode, as a learner would start it."""
    path = tmp_path / "out" / "bench.json"
    env = {**os.environ, "VAE_TUTORIAL_QUICK": "1"}
    done = subprocess.run([sys.executable, "-m", "vae_tutorial.tools.bench", "--quick", "--device", "cpu",
                           "--json", str(path)], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    result = json.loads(lines[-1])
    for key in ("device", "torch", "images_per_s", "ratio", "projected_18_epochs_s", "pipelines"):
        assert key in result, key
    assert result["torch"] == torch.__version__ and result["backbone"] == "small"
    assert set(result["images_per_s"]) == {"reference", "ours"}
    assert all(value > 0 for value in result["images_per_s"].values())
    assert math.isfinite(result["ratio"]) and result["ratio"] > 0
    assert "| reference |" in done.stdout and "| ours |" in done.stdout
    assert json.loads(path.read_text()) == result
