"""edgekit's local PlatformIO dev-platform (see builder/main.py)."""

from platformio.public import PlatformBase


class Edgekitstm32Platform(PlatformBase):
    def is_embedded(self):
        return True
