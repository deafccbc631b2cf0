"""Training: the loss goes down, resume is exact, checkpoints survive kill -9, DDP stays in sync."""

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from model.cli import main as cli_main
from model.io import load_model
from model.train import Trainer, TrainConfig

TINY = {"ngf": 8, "ndf": 8, "spade_hidden": 16, "crop_size": 64, "z_dim": 32}


def tiny_config(tmp_path: Path, **kw) -> TrainConfig:
    base = dict(model=dict(TINY), batch_size=2, num_workers=0, precision="fp32", steps=4,
                out=str(tmp_path / "run"), log_every=1, sample_every=2, ckpt_every=2, seed=3)
    base.update(kw)
    return TrainConfig(**base)


def test_a_few_steps_decrease_the_reconstruction_loss_on_a_fixed_batch(tmp_path):
    torch.manual_seed(0)
    t = Trainer(tiny_config(tmp_path, lambda_l1=10.0, lr_g=1e-3, lr_d=1e-3))
    batch = next(iter(t.loader()))
    seg, real = t.to_inputs(batch)
    losses = [t.train_step(seg, real)["L1"] for _ in range(25)]
    assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5, losses


def test_init_from_a_model_without_noise_inputs_keeps_its_pictures(tmp_path):
    from model.io import save_model
    from model.bench import random_model
    from model.config import preset
    from model.inputs import semantic_input
    cfg = preset("landscapes", **TINY)
    old = random_model(cfg.replace(noise_inject=False), seed=2)
    save_model(tmp_path / "old", old.cfg, old.generator, old.encoder, old.palette)
    t = Trainer(tiny_config(tmp_path))
    assert t.cfg.noise_inject
    t.init_from_model_folder(tmp_path / "old")
    old = load_model(tmp_path / "old")  # what was saved (fp16), as the trainer read it
    seg = semantic_input(torch.randint(0, 16, (1, 64, 64)), cfg)
    z = torch.randn(1, 32)
    g = t.inference_generator().eval()
    with torch.no_grad():
        torch.testing.assert_close(g(seg, z), old.generator.eval()(seg, z))
    assert all(float(p.detach().abs().max()) == 0 for n, p in g.named_parameters() if "noise" in n)
    t2 = Trainer(tiny_config(tmp_path / "b", noise_init=0.1))
    t2.init_from_model_folder(tmp_path / "old")
    noise = [p for n, p in t2.inference_generator().named_parameters() if "noise" in n]
    assert len(noise) == 14 and all(torch.all(p == 0.1) for p in noise)


def test_noise_weights_get_their_own_learning_rate_through_the_decay(tmp_path):
    t = Trainer(tiny_config(tmp_path, lr_g=1e-3, lr_noise=10.0, steps=10, lr_decay_start=5))
    main, noise = t.opt_G.param_groups
    assert noise["lr"] == pytest.approx(1e-2) and main["lr"] == pytest.approx(1e-3)
    names = {id(p): n for n, p in t.G.named_parameters()}
    assert sorted(names[id(p)].rsplit(".", 1)[-1] for p in noise["params"]) == ["noise_0"] * 7 + ["noise_1"] * 7
    t.step = 8
    t.set_lr()
    assert noise["lr"] == pytest.approx(1e-2 * 0.4) and main["lr"] == pytest.approx(1e-3 * 0.4)
    plain = Trainer(tiny_config(tmp_path / "plain", model=dict(TINY, noise_inject=False)))
    assert len(plain.opt_G.param_groups) == 1  # as before noise inputs: older checkpoints' optimisers load


def test_texture_terms_join_the_generator_loss_when_weighted(tmp_path):
    t = Trainer(tiny_config(tmp_path, lambda_stripes=0.2, lambda_bands=1.0, l1_pool=4, lambda_l1=1.0))
    seg, real = t.to_inputs(next(iter(t.loader())))
    losses = t.train_step(seg, real)
    assert {"Stripes", "Bands", "L1"} <= set(losses)
    assert all(math.isfinite(v) for v in losses.values())
    assert "Bands" not in Trainer(tiny_config(tmp_path / "plain")).train_step(seg, real)


def test_resume_gives_the_same_next_step_losses_as_an_uninterrupted_run(tmp_path):
    straight = Trainer(tiny_config(tmp_path / "a", steps=4))
    straight.fit(progress=False)

    first = Trainer(tiny_config(tmp_path / "b", steps=2))
    first.fit(progress=False)
    resumed = Trainer(tiny_config(tmp_path / "b", steps=4))
    resumed.load_checkpoint()
    assert resumed.step == 2
    resumed.fit(progress=False)

    a = {h["step"]: h for h in straight.history}
    b = {h["step"]: h for h in resumed.history}
    for step in (3, 4):
        for k in ("GAN", "GAN_Feat", "KLD", "D_Fake", "D_real"):
            assert a[step][k] == pytest.approx(b[step][k], rel=1e-5, abs=1e-6), (step, k)
    for (k, v), w in zip(straight.G.state_dict().items(), resumed.G.state_dict().values()):
        assert torch.allclose(v, w, atol=1e-6), k


_WRITER = """
import sys, torch
from pathlib import Path
from model.train import save_atomic
sys.stdout.write("writing\\n"); sys.stdout.flush()
save_atomic({"step": 2, "blob": torch.zeros(400_000_000, dtype=torch.uint8)}, Path(sys.argv[1]))
"""


def test_kill_9_while_writing_a_checkpoint_leaves_the_previous_one_loadable(tmp_path):
    from model.train import save_atomic
    path = tmp_path / "checkpoint.pt"
    save_atomic({"step": 1, "w": torch.arange(5)}, path)
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE,
                            cwd=Path(__file__).resolve().parents[2])
    assert proc.stdout.readline().strip() == b"writing"
    tmp = path.with_name(path.name + ".tmp")
    deadline = time.time() + 60
    while not (tmp.exists() and tmp.stat().st_size > 0) and time.time() < deadline:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    st = torch.load(path, weights_only=True)
    assert st["step"] == 1 and st["w"].tolist() == [0, 1, 2, 3, 4]


def test_cli_trains_exports_and_writes_samples_and_loss_curve(tmp_path):
    out, export = tmp_path / "run", tmp_path / "model"
    rc = cli_main(["train", "--model", '{"ngf": 8, "ndf": 8, "spade_hidden": 16, "crop_size": 64, "z_dim": 32}',
                   "--steps", "2", "--batch-size", "2", "--num-workers", "0", "--out", str(out),
                   "--sample-every", "1", "--ema-decay", "0.9", "--lambda-l1", "1",
                   "--export-dir", str(export), "--no-progress"])
    assert rc == 0
    assert (out / "checkpoint.pt").is_file() and (out / "loss_curve.png").is_file()
    assert (out / "samples" / "latest.png").is_file()
    assert list((out / "tb").glob("events.out.tfevents.*"))
    m = load_model(export)
    assert m.cfg.ngf == 8 and m.encoder is not None and len(m.palette) == 16
    assert cli_main(["train", "--out", str(out), "--resume", "--steps", "3", "--num-workers", "0",
                     "--model", '{"ngf": 8, "ndf": 8, "spade_hidden": 16, "crop_size": 64, "z_dim": 32}',
                     "--batch-size", "2", "--no-progress"]) == 0
    assert torch.load(out / "checkpoint.pt", weights_only=True)["step"] == 3


def test_config_file_and_unknown_option_errors(tmp_path):
    f = tmp_path / "train.toml"
    f.write_text('batch_size = 3\nlambda_l1 = 2.5\n[model]\nngf = 8\n')
    tc = TrainConfig.from_file(f)
    assert tc.batch_size == 3 and tc.lambda_l1 == 2.5 and tc.model_config().ngf == 8
    f.write_text("bach_size = 3\n")
    with pytest.raises(ValueError, match="bach_size"):
        TrainConfig.from_file(f)


def _ddp_worker(rank: int, world: int, port: int, out: str) -> None:
    import torch.distributed as dist
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        t = Trainer(TrainConfig(model=dict(TINY), batch_size=1, num_workers=0, precision="fp32", steps=3,
                                out=out, log_every=1, sample_every=100, ckpt_every=100, seed=1))
        t.fit(progress=False)
        torch.save({k: v.detach().clone() for k, v in t.G.module.state_dict().items()},
                   Path(out) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_two_process_ddp_on_cpu_ends_with_identical_weights(tmp_path):
    import socket
    import torch.multiprocessing as mp
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_ddp_worker, args=(2, port, str(tmp_path)), nprocs=2, join=True)
    a = torch.load(tmp_path / "rank0.pt", weights_only=True)
    b = torch.load(tmp_path / "rank1.pt", weights_only=True)
    init = Trainer(TrainConfig(model=dict(TINY), seed=1, out=str(tmp_path / "x"))).G.state_dict()
    assert any(not torch.equal(a[k], init[k]) for k in a)  # it trained
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_kill_saves_a_checkpoint_and_resume_continues(tmp_path, sig):
    out = tmp_path / "run"
    args = [sys.executable, "-m", "model.cli", "train", "--model", '{"ngf": 8, "ndf": 8, "spade_hidden": 16, '
            '"crop_size": 64, "z_dim": 16}', "--steps", "100000", "--batch-size", "1", "--num-workers", "0",
            "--log-every", "1", "--ckpt-every", "100000", "--sample-every", "100000", "--out", str(out),
            "--no-progress"]
    proc = subprocess.Popen(args, cwd=Path(__file__).resolve().parents[2], stderr=subprocess.DEVNULL)
    log = out / "log.jsonl"
    deadline = time.time() + 120
    while not (log.exists() and len(log.read_text().splitlines()) >= 2) and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(sig)
    assert proc.wait(timeout=120) == 130
    st = torch.load(out / "checkpoint.pt", weights_only=True)
    assert st["step"] >= 2  # not at a ckpt_every boundary: saved because of the signal
