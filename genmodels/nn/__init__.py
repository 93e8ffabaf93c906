"""Neural-network layers."""
from genmodels.nn.conv import (
    UPSAMPLE_KINDS,
    SubPixelConvTranspose,
    check_upsample_kind,
    conv_transpose_same_padding,
    depth_to_space,
    space_to_depth,
    subpixel_kernel,
    subpixel_taps,
    upsample_conv,
)

__all__ = [
    "UPSAMPLE_KINDS",
    "SubPixelConvTranspose",
    "check_upsample_kind",
    "conv_transpose_same_padding",
    "depth_to_space",
    "space_to_depth",
    "subpixel_kernel",
    "subpixel_taps",
    "upsample_conv",
]

from genmodels.nn.sets import POOLS, SetLayer, batch_pool, check_pool, resolve_set_layers  # noqa: E402

__all__ += ["POOLS", "SetLayer", "batch_pool", "check_pool", "resolve_set_layers"]

from genmodels.nn.minibatch import (  # noqa: E402
    MinibatchDiscrimination,
    MinibatchStddev,
    minibatch_stddev_group,
)
from genmodels.nn.spectral import (  # noqa: E402
    SpectralNorm,
    power_iteration_sigma,
    sn_conv,
    sn_dense,
    sn_embed,
)

__all__ += [
    "MinibatchDiscrimination",
    "MinibatchStddev",
    "SpectralNorm",
    "minibatch_stddev_group",
    "power_iteration_sigma",
    "sn_conv",
    "sn_dense",
    "sn_embed",
]

from genmodels.nn.masked import (  # noqa: E402
    ShiftedConv,
    ShiftedConvTranspose,
    down_shift,
    right_shift,
)

__all__ += ["ShiftedConv", "ShiftedConvTranspose", "down_shift", "right_shift"]
