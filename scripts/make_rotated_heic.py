#!/usr/bin/env python3
"""Write fixtures/formats/f0009_irot.heic: fixtures/images/f0009.jpg stored turned a
quarter to the left, with a HEIF `irot` transformation that turns it upright again, as
iPhones store their photos. Debian 12's heif-enc cannot write `irot`; pillow-heif can.

    python3 -m pip install pillow pillow-heif
    python3 scripts/make_rotated_heic.py
"""
import io
import struct
from pathlib import Path

from PIL import Image
import pillow_heif

root = Path(__file__).resolve().parent.parent
turned = Image.open(root / "fixtures/images/f0009.jpg").rotate(90, expand=True)
# EXIF orientation 6 ("turn a quarter right to view"); pillow-heif writes it as `irot`.
exif = Image.Exif()
exif[274] = 6
pillow_heif.register_heif_opener()
turned.save(root / "fixtures/formats/f0009_irot.heic", quality=85, exif=exif.tobytes())
