// bodystructure.hpp - FETCH ENVELOPE, BODY and BODYSTRUCTURE (RFC 3501
// 7.4.2) from lib/mime's tree. The tree must be parsed from the message in
// CRLF form (what the client sees), so every size and line count in it is
// the one IMAP announces. Pure; called by cmd_fetch.cpp and tested in
// tests/unit/imap_bodystructure_test.cpp.
// SECURITY: the message is untrusted; recursion follows the MIME tree,
// whose depth lib/mime bounds.
#pragma once

#include <string>
#include <string_view>

#include "lib/mime.hpp"

namespace tern::imap {

// ENVELOPE of a header section.
std::string envelope(const header_section& h);
// BODYSTRUCTURE (extended = true) or BODY (extended = false) of a message root.
std::string body_structure(const mime_part& root, bool extended);

}  // namespace tern::imap
