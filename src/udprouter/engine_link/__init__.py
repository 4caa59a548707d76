"""The router's side of the engine process: spawning, supervising and restarting it, and the ring
segment that survives an engine restart (supervised_ring). The ring's layouts live in udprouter.ring.
"""
