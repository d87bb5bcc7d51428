// format.hpp - IMAP output pieces and date syntax: strings (quoted or
// literal), nstrings, mailbox names, flag lists, INTERNALDATE, the date and
// date-time arguments of SEARCH and APPEND, RFC 5322 Date: fields (SORT,
// SENTBEFORE...), LF to CRLF conversion. Pure; called by the commands and
// tested in tests/unit/imap_format_test.cpp.
// SECURITY: dates and names come from clients and messages; parsers are
// total (nullopt on anything odd) and never throw.
#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tern::imap {

// A string: quoted when it can be ("" escapes for \ and "), a literal
// {n}CRLF... when it holds CR, LF, NUL, 8-bit bytes or is long.
void append_string(std::string& out, std::string_view s);
std::string imap_string(std::string_view s);
// NIL or a string.
void append_nstring(std::string& out, const std::optional<std::string_view>& s);
// A mailbox name as LIST/STATUS write it (always quoted unless it needs a literal).
std::string mailbox_name(std::string_view name);

// "(\Seen \Answered kw1)" from flag bits, keyword bits and the keyword table.
std::string flag_list(uint32_t flags, uint32_t keywords, const std::vector<std::string>& keyword_names, bool recent);

// INTERNALDATE: "17-Jul-1996 02:44:25 -0700" in the server's time zone.
std::string format_internal_date(int64_t t);
// SEARCH date "1-Feb-1994" -> days since the epoch of that calendar day.
std::optional<int64_t> parse_search_date(std::string_view s);
// APPEND date-time "17-Jul-1996 02:44:25 -0700" (day may be " 7") -> epoch seconds.
std::optional<int64_t> parse_date_time(std::string_view s);
// RFC 5322 Date: field (lenient: optional weekday, 2/4-digit years, obsolete
// zone names, missing seconds). epoch seconds (UTC) and, in `day`, the days
// since the epoch of the date as written (zone disregarded, for SENTON...).
std::optional<int64_t> parse_rfc5322_date(std::string_view s, int64_t* day = nullptr);
// Days since the epoch of a time in the server's time zone (BEFORE/ON/SINCE).
int64_t local_day(int64_t t);
// Days since 1970-01-01 of a civil date.
int64_t days_from_civil(int64_t y, unsigned m, unsigned d);

// Bytes in CRLF form: every LF not preceded by CR gets a CR.
std::string to_crlf(std::string_view lf);
// Converts CRLF line ends to LF (the store keeps LF); a bare CR stays.
std::string crlf_to_lf(std::string_view s);

}  // namespace tern::imap
