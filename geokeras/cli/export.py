"""``geokeras export``: export a model as a TensorFlow SavedModel (raw windows; whole traces for a denoiser; a
station's three components for a mask denoiser).

``geokeras export default OUTDIR`` writes the shipped pair (`geokeras.pretrained`): ``serve`` and
``denoise_trace`` from ``default.keras`` (what ``geokeras denoise`` runs), ``denoise_components`` from
``components.keras`` (what ``geokeras denoise --components median`` runs). ``geokeras export components OUTDIR``
writes ``components.keras`` alone (every signature from it); a path, that file alone. The summary names the file
(and the first 16 hex digits of its sha256, as ``geokeras denoise`` prints them) of each signature.
"""
import hashlib
import os

from geokeras.cli.common import CommandError, positive_int

SHIPPED = ("default", "components")  # the MODEL arguments naming shipped files (`_model_files`)


def add_parser(sub, add):
    """Add the ``export`` subcommand."""
    p = add("export", "export a model as a TensorFlow SavedModel taking raw float32 windows")
    p.add_argument("model", metavar="MODEL",
                   help="a .keras model file; 'default' for the shipped pair (serve and denoise_trace from "
                        "default.keras, as `geokeras denoise`; denoise_components from components.keras, as "
                        "`geokeras denoise --components median`); 'components' for components.keras alone "
                        "(./default or ./components for a file of that name)")
    p.add_argument("outdir", metavar="OUTDIR", help="SavedModel folder to create (must not exist or be empty)")
    p.add_argument("--batch-size", type=positive_int("batch_size"), default=None,
                   help="fix the batch size (default: free)")
    p.set_defaults(func=run, needs_tensorflow=True)
    return p


def _model_files(model):
    """``(file of serve and denoise_trace, file of denoise_components or None: the same)`` for a MODEL argument."""
    if model not in SHIPPED:
        return model, None
    from geokeras.pretrained import COMPONENTS_MODEL_PATH, DEFAULT_MODEL_PATH

    if model == "default":
        return str(DEFAULT_MODEL_PATH), str(COMPONENTS_MODEL_PATH)
    return str(COMPONENTS_MODEL_PATH), None


def _load(path):
    """``(keras.Model, sha256 hex of the file's bytes)``: the file read once, hashed and loaded from those bytes
    (`geokeras.saving.load_model`'s checks)."""
    from geokeras.saving import load_model_bytes
    from geokeras.utils import read_model_file

    data = read_model_file(path)
    return load_model_bytes(data, path=path), hashlib.sha256(data).hexdigest()


def run(args):
    """Run ``geokeras export``; return the exit status."""
    import tensorflow as tf

    from geokeras.errors import NotADenoiserError
    from geokeras.export import export_saved_model

    if os.path.exists(args.outdir) and (not os.path.isdir(args.outdir) or os.listdir(args.outdir)):
        raise CommandError(f"refusing to overwrite {args.outdir!r}: it exists and is not an empty folder")
    model_file, components_file = _model_files(args.model)
    model, digest = _load(model_file)
    components_model, components_digest = _load(components_file) if components_file else (None, digest)
    path = export_saved_model(model, args.outdir, batch_size=args.batch_size, components_model=components_model)
    loaded = tf.saved_model.load(path)
    print(f"Exported {args.model} as a TensorFlow SavedModel to {path}:")
    sources = {"serve": (model_file, digest), "denoise_trace": (model_file, digest),
               "denoise_components": (components_file or model_file, components_digest)}
    for name, (source, sha256) in sources.items():
        if name in loaded.signatures:
            print(f"  {name}: {os.path.basename(source)} (sha256 {sha256[:16]})")
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
        if "denoise_components" in loaded.signatures:
            print("Three components: clean3 = tf.saved_model.load(path).denoise_components(components), components "
                  f"one station's aligned, gap-free float32 [3, n] at {den.sampling_rate:g} Hz; one median mask per "
                  "window, as geokeras.denoise.denoise_components.")
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
