"""The torch engine on CUDA has the statistics of the CPU engines (skipped without a GPU)."""
import pytest
import torch

from toymodels.core import ModelConfig, TrainConfig, evaluate_loss, _resolve_engine, train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def test_cuda_matches_cpu_statistics():
    cfg = ModelConfig(n_feats=5, d_hidden=2, n_inst=40, density=0.1, importance=[0.9**i for i in range(5)])
    tcfg = dict(steps=800, batch_size=128, lr=1e-2, seed=11)
    assert _resolve_engine(cfg, TrainConfig(**tcfg, device="cuda")) == "torch"
    gpu = train(cfg, TrainConfig(**tcfg, device="cuda"), progress=False)
    cpu = train(cfg, TrainConfig(**tcfg), progress=False)
    assert gpu.W.device.type == "cuda"
    lg = evaluate_loss(gpu.model.cpu(), n_samples=2**15)
    lc = evaluate_loss(cpu.model, n_samples=2**15)
    d = (lg - lc).double()  # CUDA and CPU generators differ, so this is an unpaired difference of means
    t = d.mean() / (d.std() / len(d) ** 0.5)
    assert abs(t) < 4 and abs(lg.mean() / lc.mean() - 1) < 0.04, (t, lg.mean(), lc.mean())
