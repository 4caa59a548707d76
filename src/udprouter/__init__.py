"""udprouter: a low-latency order router (SBE + SOFH + FIXP over UDP, shared-memory ring, C++ engine)."""

__version__ = "0.1.0"
