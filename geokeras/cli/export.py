"""``geokeras export``: export a model as a TensorFlow SavedModel (raw windows; whole traces for a denoiser)."""
import os

from geokeras.cli.common import CommandError, positive_int


def add_parser(sub, add):
    """Add the ``export`` subcommand."""
    p = add("export", "export a model as a TensorFlow SavedModel taking raw float32 windows")
    p.add_argument("model", metavar="MODEL", help="a .keras model file, or 'default' for the shipped denoiser")
    p.add_argument("outdir", metavar="OUTDIR", help="SavedModel folder to create (must not exist or be empty)")
    p.add_argument("--batch-size", type=positive_int("batch_size"), default=None,
                   help="fix the batch size (default: free)")
    p.set_defaults(func=run, needs_tensorflow=True)
    return p


def run(args):
    """Run ``geokeras export``; return the exit status."""
    import tensorflow as tf

    from geokeras.errors import NotADenoiserError
    from geokeras.export import export_saved_model
    from geokeras.saving import load_model

    if os.path.exists(args.outdir) and (not os.path.isdir(args.outdir) or os.listdir(args.outdir)):
        raise CommandError(f"refusing to overwrite {args.outdir!r}: it exists and is not an empty folder")
    if args.model == "default":
        from geokeras.pretrained import DEFAULT_MODEL_PATH

        args.model = str(DEFAULT_MODEL_PATH)
    model = load_model(args.model)
    path = export_saved_model(model, args.outdir, batch_size=args.batch_size)
    loaded = tf.saved_model.load(path)
    print(f"Exported {args.model} as a TensorFlow SavedModel to {path}")
    print("It loads without geokeras or Keras: y = tf.saved_model.load(path).serve(x), x float32.")
    try:
        from geokeras.denoise import Denoiser

        den = Denoiser(model)
        print(f"Denoiser: x holds raw windows of {den.window_length} samples at {den.sampling_rate:g} Hz "
              "in counts (any scale); normalization is inside the graph; y is in the units of x.")
        if "denoise_trace" in loaded.signatures:  # not for a joint network of several components
            print(f"Whole traces: clean = tf.saved_model.load(path).denoise_trace(trace), trace a gap-free float32 "
                  f"[n] at {den.sampling_rate:g} Hz; the detrend, windows, stitching and clip of geokeras.denoise are "
                  "inside.")
    except NotADenoiserError:
        pass  # any other model exports too
    for name, fn in sorted(loaded.signatures.items()):
        _, kwargs = fn.structured_input_signature
        print(f"signature {name!r}:")
        for key, spec in sorted(kwargs.items()):
            print(f"  input  {key}: {spec.dtype.name} {list(spec.shape)}")
        for key, spec in sorted(fn.structured_outputs.items()):
            print(f"  output {key}: {spec.dtype.name} {list(spec.shape)}")
    return 0
