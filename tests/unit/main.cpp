// main.cpp - Catch2 entry point for tests/unit (one file per lib module).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
