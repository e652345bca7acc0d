"""Stand-in for accimage (not on PyPI for this platform) so that the seed's
examples run unchanged: Image(bytes) gives a PIL image, which the
torchvision transforms in the examples accept. Image must be a class:
torchvision tests isinstance(img, accimage.Image) when accimage imports."""
import io

from PIL import Image as _PIL


class Image:
    def __new__(cls, data):
        return _PIL.open(io.BytesIO(data)).convert("RGB")
