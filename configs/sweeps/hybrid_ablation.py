"""The hybrid model's ablation on `patches` (issue 6; Lucas et al. 2019, Table 2's argument):
full hybrid; no flow (pixel-space Gaussian VAE + adversarial); no adversarial term (flow-VAE by
likelihood only); the hybrid with lambda = 10 (30, 100 and 1000 diverged); plus pure GANs
(DCGAN at base width 64; SNGAN: ResNets at 16 px with spectral norm, hinge loss and 5 D steps per
G step, widths 1/8 (G) and 1/4 (D) of the paper's to fit the CPU) and a pure flow (Glow) on the
same data, batch size and number of generator steps.

  python -m experiments.sweep --sweep=configs/sweeps/hybrid_ablation.py --workdir=ROOT
  python -m experiments.evaluate --report ROOT/hybrid_ablation/* --out=ROOT/report

The sweep aggregates the final test bpd (the GAN has none); the report adds FID, precision,
recall, density and coverage of every run on one feature space (docs/evaluation.md).
"""

from genmodels.sweeps import seeds

NUM_STEPS = 3000
SNGAN_WIDTH = 32  # The paper's G base is 256, D base 128.


def base():
    return "configs/hybrid.py"


def fixed():
    return {"data.name": "patches", "data.batch_size": 64, "train.num_steps": NUM_STEPS,
            "train.checkpoint_every": NUM_STEPS // 3, "eval.every": NUM_STEPS}


def sweep():
    hybrid = "configs/hybrid.py"
    settings = [
        {"config": hybrid},  # The full hybrid.
        {"config": hybrid, "model.flow.depth": 0},  # No flow: pixel-space VAE + adversarial.
        {"config": hybrid, "losses.adversarial_weight": 0.0},  # Flow-VAE by likelihood only.
        # A stronger adversarial term: L_C and L_Q are both in nats per image, and L_C sums over
        # the D = 768 sub-pixels of a patch, so lambda = 1 weighs L_Q like about one sub-pixel.
        # 30, 100 and 1000 diverged (non-finite generator gradients at steps 1327, 208, 60).
        {"config": hybrid, "losses.adversarial_weight": 10.0},
        # Pure GAN: the DCGAN of the cifar10 preset (base width 64; the digits preset's 256 is
        # made for 8x8 and runs ~16x slower at 16 px), non-saturating loss.
        {"config": "configs/gan.py:cifar10"},
        {"config": "configs/gan.py:sngan_cifar10", "model.sngan_g_features": SNGAN_WIDTH,
         "model.sngan_d_features": SNGAN_WIDTH},  # Pure GAN (SNGAN ResNets, hinge).
        {"config": "configs/flow.py:glow"},  # Pure flow (Glow).
    ]
    return [{**s, **seed} for s in settings for seed in seeds(1)]


def metrics():
    return ["bpd"]
