"""Downstream: the engine's events to NATS JetStream (publisher) and from there to PostgreSQL (store).

Off the order path: the publisher reads the engine's journal through `udprouter-events` (a
read-only replay, engine/src/events_main.cpp), never the ring or the router. Schema and rules:
protocol/DOWNSTREAM.md.
"""
