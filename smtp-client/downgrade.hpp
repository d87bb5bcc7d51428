// downgrade.hpp - RFC 6152 section 3 conversion of 8-bit mail for a server
// that lacks 8BITMIME: every MIME leaf whose body holds 8-bit bytes gets a
// quoted-printable body and "Content-Transfer-Encoding: quoted-printable";
// multiparts and message/rfc822 parts that declared 8bit or binary are
// relabelled 7bit once their contents are. A message without MIME headers
// gets "MIME-Version: 1.0" as well. Header fields are left as they are.
// Called by the delivery before it sends to such a server.
// SECURITY: the message is untrusted; lib/mime parses it with its limits,
// and the output is built from byte ranges of the input plus encoder output.
#pragma once

#include <string>
#include <string_view>

namespace tern::smtp_client {

// The converted message (LF line ends, like the input).
std::string downgrade_8bit(std::string_view msg);

}  // namespace tern::smtp_client
