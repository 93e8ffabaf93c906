"""Normalizing flows: bijectors, Real NVP / Glow, a shape-preserving feature flow, and the
pre-processing with its log-dets. See docs/flows.md.

Bijector API. Every bijector maps NHWC arrays and returns a per-example log-det [B]:
  forward(x) -> (y, ln|det dy/dx|),   inverse(y) -> (x, ln|det dx/dy|)
Flax modules (ActNorm, InvConv1x1, AffineCoupling, AdditiveCoupling, Coupling, FactorOut,
Squeeze) are called as `module.apply(variables, x, method="forward")` or used as submodules;
`squeeze` / `unsqueeze` are pure functions (log-det 0).

Feature flow (for a density in feature space, e.g. the ADE hybrid):
  flow = make_feature_flow(cfg, (H, W, C), "model.flow")   # cfg: depth, hidden, coupling,
                                   #   squeezes, mask, scale_bound, net, num_blocks, num_scales
  (num_scales = 0: FeatureFlow, single scale; L >= 1: MultiScaleFeatureFlow, Glow's L-level
  plan with its factored-out levels packed back into [H, W, C])
  f, logdet = flow.apply(v, x, method="forward")          # f: [B, H, W, C], logdet [B]
  x, logdet_inv = flow.apply(v, f, method="inverse")
  (or, as a submodule: `self.flow.forward(x)`, `self.flow.inverse(f)`). ActNorm initialises
  from the batch given to `init` (pass real, pre-processed data, not zeros).

Pre-processing (pure; each returns (out, ln|det| [B])):
  y = dequantize(rng, x_uint8)                  # (x + u) / 256 in [0, 1)^D
  z, ld = logit_forward(y, alpha=0.05)          # Real NVP; logit_inverse(z, alpha)
  z, ld = affine_forward(y)                     # 2 y - 1 in [-1, 1), ld = D ln 2; affine_inverse
  bpd = bits_per_dim(ln p_Z(f(z)) + ln|det df/dz| + ld, D)   # = -ln p(y) / (D ln 2) + 8

Multi-scale models: make_flow(config.model, (H, W, C)) -> MultiScaleFlow whose forward returns
(eps tuple, logdet) with every eps standard normal; inverse(eps) -> (z, logdet).
"""

from genmodels.flows.bijectors import (
    COUPLINGS,
    MASKS,
    NETS,
    SCALE_BOUNDS,
    ActNorm,
    AdditiveCoupling,
    AffineCoupling,
    Coupling,
    CouplingNet,
    FactorOut,
    InvConv1x1,
    Squeeze,
    checkerboard,
    squeeze,
    unsqueeze,
)
from genmodels.flows.models import (
    KINDS,
    FeatureFlow,
    MultiScaleFeatureFlow,
    MultiScaleFlow,
    flow_spec,
    make_feature_flow,
    make_flow,
)
from genmodels.flows.preprocess import (
    LOGIT_ALPHA,
    PREPROCESSINGS,
    affine_forward,
    affine_inverse,
    bits_per_dim,
    check_preprocess,
    dequantize,
    logit_forward,
    logit_inverse,
    preprocess_forward,
    preprocess_inverse,
    standard_normal_log_prob,
    to_uint8_levels,
)

__all__ = [
    "COUPLINGS", "KINDS", "LOGIT_ALPHA", "MASKS", "NETS", "PREPROCESSINGS", "SCALE_BOUNDS",
    "ActNorm", "AdditiveCoupling", "AffineCoupling", "Coupling", "CouplingNet", "FactorOut",
    "FeatureFlow", "InvConv1x1", "MultiScaleFeatureFlow", "MultiScaleFlow", "Squeeze",
    "affine_forward", "affine_inverse", "bits_per_dim", "check_preprocess", "checkerboard", "dequantize",
    "flow_spec", "logit_forward", "logit_inverse", "make_feature_flow", "make_flow",
    "preprocess_forward", "preprocess_inverse", "squeeze", "standard_normal_log_prob",
    "to_uint8_levels", "unsqueeze",
]
