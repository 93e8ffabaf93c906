"""Networks: generators, discriminators, encoders, decoders."""
from genmodels.models.dcgan import DCGANDiscriminator, DCGANGenerator, dcgan_num_upsamplings
from genmodels.models.mlp import Maxout, MLPDiscriminator, MLPGenerator
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
]
