"""convlab: convolution kernels, graph passes and measurements for CNN inference on small ARM boards."""
from .activation import Activation
from .api import AutoPlan, ConvPlan, conv2d, prepare_conv
from .errors import ConvInputError, ConvlabError, UnsupportedConvError
from .spec import ConvSpec

__version__ = "0.1.0"
__all__ = ["conv2d", "prepare_conv", "ConvPlan", "AutoPlan", "ConvSpec", "Activation",
           "ConvlabError", "ConvInputError", "UnsupportedConvError", "__version__"]
