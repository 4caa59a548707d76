"""What survives the router process: the router log (outbound frames for retransmission, in
segments dropped whole), the recovery that replays it and the engine journal's answers after a
restart, the durable session ids, the journal directory lock, and the journal inspection tool.
The engine's own journal (commands, snapshots) is written by the engine (engine/src/journal_*).
"""
