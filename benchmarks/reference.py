"""The naive baseline: a trainer written the way the paper's Colab writes it.

Batch-first layout `(batch, inst, feats)`, einsum forward, autograd, `torch.optim.AdamW`, and a fresh batch
every step from two random tensors (one for the mask, one for the values). Every model kind of `ModelConfig`:
a ReLU hidden layer (§7), untied weights `W_out`, and the abs task (§8: values Uniform[-1, 1), target |x|). It exists only as the benchmark
baseline and as an independent implementation for the statistics test in `tests/test_fast.py`; use
`toymodels.train` for real work.
"""
from __future__ import annotations

import time

import torch

from toymodels.core import SCHEDULES, ModelConfig, ToyModel, TrainConfig, TrainResult


def train_reference(cfg: ModelConfig, tcfg: TrainConfig, progress: bool = False) -> TrainResult:
    "Colab-style training. The initial W is the package's (`ToyModel` seeded with `tcfg.seed`) so only the training loop differs."
    init = ToyModel(cfg, torch.Generator().manual_seed(tcfg.seed))
    W = torch.nn.Parameter(init.W.detach().clone())                      # (inst, feats, hidden)
    W_out = W if cfg.tied else torch.nn.Parameter(init.W_out.detach().clone())  # (inst, feats, hidden)
    b_final = torch.nn.Parameter(torch.zeros(cfg.n_inst, cfg.n_feats))    # (inst, feats)
    p = cfg.density_table()                                                # (inst, feats)
    importance = cfg.importance_table()
    torch.manual_seed(tcfg.seed + 1)
    opt = torch.optim.AdamW([W, b_final] + ([] if cfg.tied else [W_out]), lr=tcfg.lr, weight_decay=tcfg.weight_decay)
    sched = SCHEDULES[tcfg.schedule]
    losses, log_steps = [], []
    t0 = time.perf_counter()
    for step in range(tcfg.steps):
        for group in opt.param_groups: group["lr"] = tcfg.lr * sched(step, tcfg.steps)
        opt.zero_grad(set_to_none=True)
        shape = (tcfg.batch_size, cfg.n_inst, cfg.n_feats)
        feat = 2 * torch.rand(shape) - 1 if cfg.signed else torch.rand(shape)
        batch = torch.where(torch.rand(shape) <= p, feat, torch.zeros(()))
        hidden = torch.einsum("bif,ifh->bih", batch, W)
        if cfg.hidden_activation == "relu": hidden = torch.relu(hidden)
        out = torch.einsum("bih,ifh->bif", hidden, W_out) + b_final
        if cfg.activation == "relu": out = torch.relu(out)
        error = importance * (batch.abs() - out) ** 2
        loss_inst = error.mean(dim=(0, 2))
        loss_inst.sum().backward()
        opt.step()
        if step % tcfg.log_every == 0 or step == tcfg.steps - 1:
            losses.append(loss_inst.detach().clone()); log_steps.append(step)
    model = ToyModel.from_weights(cfg, W.detach().clone(), b_final.detach().clone(), None if cfg.tied else W_out.detach().clone())
    return TrainResult(model, torch.stack(losses), torch.tensor(log_steps), time.perf_counter() - t0, tcfg)
