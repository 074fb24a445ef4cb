"""Sweeps (docs/scaling.md): a Hydra sweep whose jobs train on 2 processes runs each job once, every rank
with the job's hyperparameters; an Optuna study records a failed trial and goes on, and resumes from its
storage; its search space holds the defaults."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import optuna
import torch
from conftest import ROOT, TINY, TINY_SHAPES, cli
from hydra.core.override_parser.overrides_parser import OverridesParser

GAN = ["model.generator.width=8", "model.discriminator.width=8", "model.latent_dim=16", "trainer.max_steps=2"]


def test_a_sweep_of_ddp_jobs_trains_each_job_once_with_its_own_hyperparameters(tmp_path):
    out = tmp_path / "sweep"
    env = {**os.environ, "WANDB_MODE": "offline", "PYTHONWARNINGS": "ignore",
           "PYTHONPATH": f"{ROOT / 'tests'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    result = subprocess.run(
        [sys.executable, "-m", "genlab.train", "-m", *TINY, *TINY_SHAPES, *GAN, "trainer=ddp_cpu",
         "model.optim_g.lr=0.001,0.002", "+callbacks.record._target_=crash_helper.RecordHparams",
         "+callbacks.record.dirpath=${paths.output_dir}", f"paths.output_dir={out}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=240, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["0", "1"]
    rates = []
    for job in ("0", "1"):
        ranks = sorted((out / job).glob("hparams_rank*.json"))
        assert [p.name for p in ranks] == ["hparams_rank0.json", "hparams_rank1.json"]  # one trial per job
        first, second = (json.loads(p.read_text()) for p in ranks)
        assert first == second and first["world_size"] == 2
        rates.append(first["optim_g"]["lr"])
        assert torch.load(out / job / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 2
    assert rates == [0.001, 0.002]


def test_an_optuna_study_goes_on_past_a_failed_trial_and_resumes_from_its_storage(tmp_path, capsys, monkeypatch):
    out, storage = tmp_path / "study", f"sqlite:///{tmp_path / 'study.db'}"
    args = ["hparams_search=gan_optuna", *TINY, *TINY_SHAPES, *GAN, "callbacks.judge_fid.num_samples=32",
            "callbacks.judge_fid.batch_size=32", f"hydra.sweeper.storage={storage}",
            "+callbacks.fail._target_=crash_helper.FailInJob", "+callbacks.fail.job=0", f"paths.output_dir={out}"]
    code, _, err = cli("genlab.train", *args, "hydra.sweeper.n_trials=2", cwd=tmp_path, capsys=capsys,
                       monkeypatch=monkeypatch)
    assert code == 0, err[-3000:]
    study = optuna.load_study(study_name="gan", storage=storage)
    assert [t.state.name for t in study.trials] == ["FAIL", "COMPLETE"]
    assert math.isfinite(study.trials[1].value) and 2e-4 <= study.trials[1].params["model.optim_g.lr"] <= 4e-3

    # the same command again, one more trial: the study continues, in a folder of its own
    code, _, err = cli("genlab.train", *args, "hydra.sweeper.n_trials=1", cwd=tmp_path, capsys=capsys,
                       monkeypatch=monkeypatch)
    assert code == 0, err[-3000:]
    study = optuna.load_study(study_name="gan", storage=storage)
    assert [t.state.name for t in study.trials] == ["FAIL", "COMPLETE", "COMPLETE"]
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["0", "1", "2"]
    assert torch.load(out / "2" / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 2


def test_the_optuna_search_space_holds_the_defaults():
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="genlab.conf", version_base="1.3"):
        cfg = compose("train", overrides=["hparams_search=gan_optuna"], return_hydra_config=True)
    GlobalHydra.instance().clear()
    for key, space in cfg.hydra.sweeper.params.items():
        default = cfg
        for part in key.split("."):
            default = default[part]
        sweep = OverridesParser.create().parse_overrides([f"{key}={space}"])[0].value()
        if hasattr(sweep, "start"):
            assert sweep.start <= default <= sweep.end, f"{key}: default {default} outside {space}"
        else:
            assert default in sweep.list, f"{key}: default {default} not among {space}"


def test_the_slurm_launcher_takes_nodes_and_tasks_from_the_trainer():
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="genlab.conf", version_base="1.3"):
        cfg = compose("train", overrides=["hydra/launcher=slurm", "trainer=ddp", "trainer.num_nodes=2",
                                          "trainer.devices=4", "hydra.launcher.partition=gpu"], return_hydra_config=True)
    GlobalHydra.instance().clear()
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert (launcher.nodes, launcher.tasks_per_node, launcher.gpus_per_node) == (2, 4, 4)
    assert (launcher.partition, launcher.signal_delay_s, cfg.trainer.strategy) == ("gpu", 120, "ddp")


def test_a_job_through_submitit_trains_in_its_own_folder(tmp_path):
    """submitit's local executor: the job runs in a process submitit starts from the pickled job, as on SLURM."""
    out = tmp_path / "sweep"
    env = {**os.environ, "WANDB_MODE": "offline", "PYTHONWARNINGS": "ignore"}
    result = subprocess.run([sys.executable, "-m", "genlab.train", "-m", "hydra/launcher=submitit_local", *TINY,
                             *TINY_SHAPES, *GAN, "seed=0,1", f"paths.output_dir={out}"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=240, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    for job, seed in (("0", 0), ("1", 1)):
        assert torch.load(out / job / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 2
        assert json.loads((out / job / "run.json").read_text())["seed"] == seed
    assert list((out / ".submitit").iterdir()), "submitit kept no record of its jobs"
