// engine_log.h - the engine's stderr lines, in the router's format (logfmt with a UTC timestamp).
//
//   ts=2026-12-06T01:02:03.456Z level=error source=engine msg="udprouter-engine: recovery failed: ..."
//
// stderr goes to <journal dir>/engine.log (the router opens it); the timestamp lets an operator
// line those lines up with the router's. Off the matching path: startup, recovery, failure, stop.
#ifndef UDPROUTER_ENGINE_ENGINE_LOG_H
#define UDPROUTER_ENGINE_ENGINE_LOG_H

namespace udprouter::engine {

// Writes one line: level is "info", "warning" or "error"; format/args as printf (the text the
// line carries as msg, quoted and escaped).
void engine_log(const char *level, const char *format, ...) __attribute__((format(printf, 2, 3)));

} // namespace udprouter::engine

#endif // UDPROUTER_ENGINE_ENGINE_LOG_H
