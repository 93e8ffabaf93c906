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
