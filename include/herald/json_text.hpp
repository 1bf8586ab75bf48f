#pragma once
// Writing JSON text without a JSON document: the string escaping herald uses in every frame
// it writes, shared by the engine and hosts that write JSON the same way (herald-server).

#include <charconv>
#include <string>
#include <string_view>
#include <type_traits>

namespace herald {

/// Appends `text` escaped for the inside of a JSON string literal, as nlohmann::json::dump()
/// and simdjson::minify escape it: quote, backslash and control characters (\b \t \n \f \r,
/// the others as \u00XX in lower-case hex); every other byte is copied as it is (the caller
/// has valid UTF-8, or the transport checks it). No quotes are added. Never throws but
/// std::bad_alloc.
inline void append_json_escaped(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte >= 0x20) {
      out += c;
    } else if (const auto at = std::string_view("\b\t\n\f\r").find(c);
               at != std::string_view::npos) {
      out += '\\';
      out += "btnfr"[at];
    } else {
      out += "\\u00";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    }
  }
}

/// Appends `text` as a JSON string literal (quoted, escaped as append_json_escaped).
inline void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  append_json_escaped(out, text);
  out += '"';
}

/// Appends the decimal digits of an integer, as a JSON number (or inside a quoted id). No
/// temporary string: ids and epochs are longer than std::string's inline buffer, where
/// std::to_string would allocate for each.
template <class Integer>
void append_json_integer(std::string& out, Integer value) {
  static_assert(std::is_integral_v<Integer> && sizeof(Integer) <= 8,
                "an integer of 64 bits at most");
  char digits[20];
  const char* end = std::to_chars(digits, digits + sizeof digits, value).ptr;
  out.append(digits, static_cast<std::size_t>(end - digits));
}

}  // namespace herald
