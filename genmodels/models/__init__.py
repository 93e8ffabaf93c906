"""Networks: generators, discriminators, encoders, decoders."""
from genmodels.models.dcgan import DCGANDiscriminator, DCGANGenerator, dcgan_num_upsamplings
from genmodels.models.mlp import Maxout, MLPDiscriminator, MLPGenerator, weight_init
from genmodels.models.vae_nets import ConvDecoder, ConvEncoder, check_divisible

__all__ = [
    "ConvDecoder",
    "ConvEncoder",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "MLPDiscriminator",
    "MLPGenerator",
    "Maxout",
    "check_divisible",
    "dcgan_num_upsamplings",
    "weight_init",
]

from genmodels.models.set_discriminators import (  # noqa: E402
    SetAndPointDiscriminator,
    SetDCGANDiscriminator,
    SetMLPDiscriminator,
)

__all__ += ["SetAndPointDiscriminator", "SetDCGANDiscriminator", "SetMLPDiscriminator"]

from genmodels.models.sngan import (  # noqa: E402
    SNGAN_IMAGE_SIZES,
    ConditionalBatchNorm,
    SNGANDiscriminator,
    SNGANDiscriminatorBlock,
    SNGANGenerator,
    SNGANGeneratorBlock,
    sngan_check_image_shape,
)

__all__ += [
    "SNGAN_IMAGE_SIZES",
    "ConditionalBatchNorm",
    "SNGANDiscriminator",
    "SNGANDiscriminatorBlock",
    "SNGANGenerator",
    "SNGANGeneratorBlock",
    "sngan_check_image_shape",
]

from genmodels.models.joint import JointConvDiscriminator, JointMLPDiscriminator, MLPEncoder  # noqa: E402

__all__ += ["JointConvDiscriminator", "JointMLPDiscriminator", "MLPEncoder"]

from genmodels.models.pixelcnn import PixelCNNPP  # noqa: E402

__all__ += ["PixelCNNPP"]
