// targets.hpp - the value syntax of aliases, .forward and :include: files
// as local delivery's resolver wants it: lib/aliases' parser (addresses,
// /files, |commands, :include:/paths, quoting), one element per line or
// comma-separated, '#' comment lines, and "\user" (that user's own
// mailbox, no further expansion). Used by local-delivery/main.cpp and the
// unit tests.
// SECURITY: .forward and include files belong to users; the parser is
// lib/aliases' strict one and a syntax error defers the recipient.
#pragma once

#include <string_view>

#include "local-delivery/resolve.hpp"

namespace tern::local {

parsed_targets parse_targets(std::string_view text);

}  // namespace tern::local
