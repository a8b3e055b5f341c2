"""Data layer: ObsPy I/O, windowing and stitching, training pairs, synthetic generators, datasets."""
