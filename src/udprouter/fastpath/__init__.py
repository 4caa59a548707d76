"""The C fast path: each C header beside the Python that drives it, all compiled into one cffi module
(udprouter._ring_cffi, built by udprouter/_ffi_build.py together with the ring ABI).

- fast_io.h / fast_io.py: batched UDP syscalls (recvmmsg/sendmmsg), the router's socket.
- fast_ingest.h / fast_ingest.py: decode, sequence, throttle and risk checks of the common inbound
  datagram, and the ring fill. It works on each session's C twin (udr_fp_session).
- fast_pack.h / datagram_packer.py: a session's frames packed into Sequence-led datagrams.
- fast_egress.h, event_stats.h: event routing and report encoding, driven by udprouter.dispatcher.
- datagram_mac.h: the datagram MAC, checked against udprouter.datagram_mac.
- packed_batch.h: gRPC SubmitOrdersPacked, driven by fallback_grpc.packed.

Every function here has a Python twin on the order path; differential tests hold them equal.
"""
