"""Compiler options shared by every gort target (the one copts file)."""

GORT_COPTS = [
    "-Werror=return-type",
    "-Wshadow=local",
    "-Wnon-virtual-dtor",
    "-fno-strict-aliasing",
]

# Tests and benchmarks: the same, plus what GoogleTest needs quiet.
GORT_TEST_COPTS = GORT_COPTS + ["-Wno-sign-compare"]
