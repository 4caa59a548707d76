// engine_log.cpp - one logfmt line per call on stderr.
#include "udprouter/engine/engine_log.h"

#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <string>

namespace udprouter::engine {

void engine_log(const char *level, const char *format, ...)
{
    char text[1024];
    va_list args;
    va_start(args, format);
    std::vsnprintf(text, sizeof text, format, args);
    va_end(args);
    std::string line;
    line.reserve(128);
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    tm utc{};
    gmtime_r(&now.tv_sec, &utc);
    char stamp[40];
    std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
    char millis[24];
    std::snprintf(millis, sizeof millis, ".%03ldZ", now.tv_nsec / 1'000'000);
    line.append("ts=").append(stamp).append(millis).append(" level=").append(level);
    line.append(" source=engine msg=\"");
    for (const char *p = text; *p != '\0'; ++p) {
        if (*p == '"' || *p == '\\') line.push_back('\\');
        if (*p == '\n') {
            line.append("\\n");
            continue;
        }
        line.push_back(*p);
    }
    line.append("\"\n");
    std::fwrite(line.data(), 1, line.size(), stderr); // one write: lines never interleave mid-line
    std::fflush(stderr);
}

} // namespace udprouter::engine
