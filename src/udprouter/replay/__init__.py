"""udprouter-replay: read pcap/pcapng captures and replay their orders into a live router."""
