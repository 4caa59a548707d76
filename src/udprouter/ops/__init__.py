"""Operating the router: metrics (Prometheus) and the ops HTTP server, health monitoring, the event
log, systemd notification, config reload on SIGHUP, and the `udprouter admin` CLI.
"""
