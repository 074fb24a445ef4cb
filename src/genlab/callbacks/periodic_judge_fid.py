"""Judge FID during training: every `every_n_steps` steps, `num_samples` generated images against the same
number of training images, on a shipped judge's features. Logged as `metrics/judge_fid`: a checkpoint
monitor or a sweep's objective.

Under DDP every rank generates its share and calls update and compute (torchmetrics syncs the sums);
the metric is reset at fit start (under ddp_spawn its state would otherwise be shared). No global random
state is touched (real images are read by index, samples use their own generator), so exact resume holds.
"""

from __future__ import annotations

import torch
from pytorch_lightning import Callback

from genlab.errors import ConfigError
from genlab.metrics.conditional import generate_like
from genlab.metrics.fid import FID, JudgeFeatures
from genlab.metrics.judges import check_judge_input, load_judge
from genlab.utils.images import quantize


class JudgeFID(Callback):
    """`judge`: a shipped judge's name; None (the default) takes the data set's own (`datamodule.judge`)."""

    def __init__(self, judge: str | None = None, every_n_steps: int = 500, num_samples: int = 1000,
                 batch_size: int = 250, seed: int = 0, key: str = "metrics/judge_fid"):
        if every_n_steps < 1 or num_samples < 2:
            raise ConfigError("callbacks.judge_fid needs every_n_steps >= 1 and num_samples >= 2")
        self.judge, self.every, self.num_samples = judge, every_n_steps, num_samples
        self.batch_size, self.seed, self.key = batch_size, seed, key
        self.features: JudgeFeatures | None = None
        self.metric: FID | None = None
        self._real_ready = False
        self._last_step = -1

    def setup(self, trainer, pl_module, stage: str) -> None:
        if self.features is not None:
            return
        self.judge = self.judge or getattr(trainer.datamodule, "judge", None)
        if self.judge is None:
            raise ConfigError("this data set has no judge network; judge FID (callbacks=judge_fid) exists for "
                              "shapes, digits and mnist5k")
        self.features = JudgeFeatures(load_judge(self.judge))

    def on_fit_start(self, trainer, pl_module) -> None:
        check_judge_input(self.judge, pl_module.image_size, pl_module.channels)
        # a fresh metric each fit: no state shared between ddp_spawn ranks or left from an earlier fit
        self.metric = FID(feature=self.features, reset_real_features=False).to(pl_module.device)
        self._real_ready = False

    def _share(self, trainer) -> range:
        return range(trainer.global_rank, self.num_samples, trainer.world_size)

    @torch.no_grad()
    def evaluate(self, trainer, pl_module) -> float:
        dataset = trainer.datamodule.datasets["train"]
        indices = [i % len(dataset) for i in self._share(trainer)]
        if not self._real_ready:
            for chunk in [indices[i:i + self.batch_size] for i in range(0, len(indices), self.batch_size)]:
                real = torch.stack([dataset[i]["image"] for i in chunk]).to(pl_module.device)
                self.metric.update(quantize(real), real=True)
            self._real_ready = True
        self.metric.reset()  # fake features only (reset_real_features=False)
        was_training = pl_module.training
        pl_module.eval()
        fake = generate_like(pl_module, dataset, indices, self.batch_size,
                             base_seed=self.seed + 100_003 * trainer.global_rank)
        pl_module.train(was_training)
        for chunk in fake.split(self.batch_size):
            self.metric.update(chunk.to(pl_module.device), real=False)
        value = float(self.metric.compute())
        pl_module.log(self.key, value, prog_bar=True, sync_dist=False)  # already synchronised
        self._last_step = trainer.global_step
        return value

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        last = 0 < trainer.max_steps <= step  # the final step is always measured
        if (step % self.every == 0 or last) and step != self._last_step:
            self.evaluate(trainer, pl_module)
