"""pycolmap, imported so that it cannot break other libraries' PNG writers.

pycolmap's extension module exports the symbols of its own, statically linked zlib. When it
is the first library to bring zlib into the process, OpenCV's and Pillow's (matplotlib's)
PNG encoders later corrupt the heap and abort ("free(): invalid pointer"). Loading the
system zlib first, through Python's own ``zlib`` module, avoids it. Every module of this
package imports pycolmap from here.
"""

import zlib  # noqa: F401  -- must be loaded before pycolmap, see above

import pycolmap

__all__ = ["pycolmap"]
