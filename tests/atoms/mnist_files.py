"""Tiny MNIST IDX files for the tests that run the paper presets on stand-in data."""

import struct
import numpy as np



def _idx(array: np.ndarray) -> bytes:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}i", *array.shape)
    return header + array.astype(np.uint8).tobytes()
