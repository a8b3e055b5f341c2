"""The exceptions geokeras raises for bad models, inputs and outputs (the command line maps them to exit codes).

Every class also derives from the built-in type that callers caught before (``ValueError``), so
``except ValueError`` keeps working; code that needs to tell them apart (``geokeras.cli``) catches
these types and never matches message text.

Example:
    >>> from geokeras.errors import TraceError
    >>> err = TraceError("XX.STA..HHZ", "it has zero samples")
    >>> err.trace_id, str(err)
    ('XX.STA..HHZ', 'Invalid trace XX.STA..HHZ: it has zero samples')
    >>> isinstance(err, ValueError)
    True
"""

__all__ = [
    "GeokerasError", "ModelError", "NotADenoiserError", "InputError", "UnknownFormatError", "TraceError",
    "OutOfBandError", "PacketError", "FormatError", "NothingToProcessError", "SchedulerError", "NotEnoughNoiseError",
    "SeveralStationsError", "one_line",
]


class GeokerasError(Exception):
    """Base class of the errors geokeras raises on purpose (a user-facing, one-line message)."""


class ModelError(GeokerasError, ValueError):
    """A model file or object cannot be used (missing, unsafe, unreadable)."""


class NotADenoiserError(ModelError):
    """A model that loads but is not a geokeras denoiser (no window length / sampling rate metadata)."""


class InputError(GeokerasError, ValueError):
    """An input file or record cannot be used (empty, corrupt, no trace)."""


class UnknownFormatError(InputError):
    """A file that no ObsPy waveform plugin recognizes (a README next to the data, ...)."""


class NothingToProcessError(InputError):
    """Every trace of an input was refused; ``errors`` holds the `TraceError` of each."""

    def __init__(self, errors):
        self.errors = list(errors)
        super().__init__(f"No trace could be processed: {'; '.join(str(e) for e in self.errors)}")

    def __reduce__(self):
        return type(self), (self.errors,)


class TraceError(InputError):
    """One trace cannot be processed (NaN samples, zero length, ...); the other traces can.

    Args:
        trace_id: the SEED id of the trace.
        reason: why, one line.
    """

    def __init__(self, trace_id, reason):
        self.trace_id, self.reason = trace_id, reason
        super().__init__(f"Invalid trace {trace_id}: {reason}")

    def __reduce__(self):
        return type(self), (self.trace_id, self.reason)


class OutOfBandError(TraceError):
    """A trace whose sampling rate is outside the range the model is valid for."""


class PacketError(TraceError):
    """A packet `geokeras.stream.StreamingDenoiser` refuses (out of order, overlapping, another rate, NaN);
    the denoiser's state is as before the packet."""


class NotEnoughNoiseError(InputError):
    """A record holds less noise than an adaptation needs (`geokeras.adaptation`); the message says how much."""


class SeveralStationsError(InputError):
    """Records of several stations where one station's are expected; ``stations`` lists them."""

    def __init__(self, stations, hint=""):
        self.stations, self.hint = sorted(stations), hint
        super().__init__(f"The records hold {len(self.stations)} stations ({', '.join(self.stations)}); "
                         f"expected one station{hint}")

    def __reduce__(self):
        return type(self), (self.stations, self.hint)


class FormatError(GeokerasError, ValueError):
    """A stream cannot be written in the requested format without changing its ids."""


class SchedulerError(GeokerasError, ConnectionError):
    """A Dask scheduler that cannot be reached or used (nothing listening, not a Dask scheduler)."""


def one_line(exc, limit=600):
    """The message of an exception on one line (prefixed by its type unless it is one of ours or a ValueError).

    Example:
        >>> one_line(KeyError("x")), one_line(InputError("bad\\n  file"))
        ("KeyError: 'x'", 'bad file')
    """
    text = " ".join(str(exc).split())
    if len(text) > limit:
        text = text[:limit - 3] + "..."
    name = type(exc).__name__
    if not text:
        return name
    if isinstance(exc, (GeokerasError, ValueError)):
        return text
    return f"{name}: {text}"
