"""Code generators: protocol/*.xml (SBE schemas) -> Python models, construct definitions, C header,
C field descriptors (for the C client library).

    python -m tools.gen            # (re)write every generated file
    python -m tools.gen --check    # exit 1 if a committed generated file is stale
    python -m tools.gen.vectors    # (re)write the golden vectors in protocol/vectors/
"""
