from .cells import CELLS
from .classifier import InPixelClassifier, build_model
from .encoders import ENCODERS
from .sensor_noise import set_noise

__all__ = ["CELLS", "ENCODERS", "InPixelClassifier", "build_model", "set_noise"]
