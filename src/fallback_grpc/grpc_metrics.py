"""GrpcMetrics: per-method call counts (by status code) and latency of the gRPC server.

A grpc.aio server interceptor, so every service (OrderEntry, health, reflection) is counted the
same way. A call costs a few dict operations and one bisect (calls are batches, not orders); the
prometheus families are built at scrape time. Methods are the server's registered ones (an unknown
method never gets a handler), so the label set is bounded.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections import Counter

import grpc
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

BUCKETS_S = (100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 100e-3, 1.0, 10.0)
_BOUNDS_NS = [round(b * 1e9) for b in BUCKETS_S]


def _code_name(code) -> str:
    if code is None:
        return "OK"
    if isinstance(code, grpc.StatusCode):
        return code.name
    for status in grpc.StatusCode:
        if status.value[0] == code:
            return status.name
    return str(code)


class GrpcMetrics(grpc.aio.ServerInterceptor):
    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()  # (method, code)
        self.latency: dict[str, list[int]] = {}  # method -> bucket counts (+ one above every bound)
        self.latency_sum_ns: Counter[str] = Counter()

    def record(self, method: str, code, ns: int) -> None:
        self.calls[(method, _code_name(code))] += 1
        counts = self.latency.get(method)
        if counts is None:
            counts = self.latency[method] = [0] * (len(_BOUNDS_NS) + 1)
        counts[bisect_left(_BOUNDS_NS, ns)] += 1
        self.latency_sum_ns[method] += ns

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        record = self.record
        if handler.unary_unary is not None:
            inner = handler.unary_unary

            async def unary_unary(request, context):
                start = time.perf_counter_ns()
                try:
                    return await inner(request, context)
                finally:
                    record(method, context.code(), time.perf_counter_ns() - start)

            return handler._replace(unary_unary=unary_unary)
        if handler.unary_stream is not None:
            inner_stream = handler.unary_stream

            async def unary_stream(request, context):
                start = time.perf_counter_ns()
                try:
                    result = inner_stream(request, context)
                    if hasattr(result, "__aiter__"):
                        async for item in result:
                            yield item
                    else:
                        await result
                finally:
                    record(method, context.code(), time.perf_counter_ns() - start)

            return handler._replace(unary_stream=unary_stream)
        return handler

    def collect(self):
        calls = CounterMetricFamily("udprouter_grpc_calls", "gRPC calls by method and status code",
                                    labels=["method", "code"])
        for (method, code), count in sorted(self.calls.items()):
            calls.add_metric([method, code], count)
        yield calls
        latency = HistogramMetricFamily("udprouter_grpc_call_seconds", "gRPC call latency by method",
                                        labels=["method"])
        for method, counts in sorted(self.latency.items()):
            cumulative, buckets = 0, []
            for bound, count in zip((*map(repr, BUCKETS_S), "+Inf"), list(counts), strict=True):
                cumulative += count
                buckets.append((bound, cumulative))
            latency.add_metric([method], buckets, self.latency_sum_ns[method] / 1e9)
        yield latency
