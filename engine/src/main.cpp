// main.cpp - udprouter-engine: parse the command line, then run the engine process.
#include <cstdio>

#include "udprouter/engine/engine_options.h"
#include "udprouter/engine/engine_process.h"

int main(int argc, char **argv)
{
    using namespace udprouter::engine;
    EngineOptionsResult parsed = parse_engine_options(argc, argv);
    if (parsed.help) {
        std::fputs(engine_usage(), stdout);
        return 0;
    }
    if (!parsed.ok) {
        std::fprintf(stderr, "udprouter-engine: %s\n%s", parsed.error.c_str(), engine_usage());
        return 2;
    }
    if (parsed.options.print_state_digest) return EngineProcess::print_state_digest(parsed.options);
    EngineProcess process(parsed.options);
    return process.run();
}
