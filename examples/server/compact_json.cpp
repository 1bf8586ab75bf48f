#include "compact_json.hpp"

#include "herald/json_text.hpp"

namespace herald::server {

// Each case reads the value as the type() it has, so no read fails (value_unsafe).
void append_compact(std::string& out, const simdjson::dom::element& value) {
  using simdjson::dom::element_type;
  switch (value.type()) {
    case element_type::OBJECT: {
      const simdjson::dom::object members = value.get_object().value_unsafe();
      out += '{';
      bool first = true;
      for (const simdjson::dom::key_value_pair field : members) {
        if (!first) out += ',';
        first = false;
        append_json_string(out, field.key);
        out += ':';
        append_compact(out, field.value);
      }
      out += '}';
      return;
    }
    case element_type::ARRAY: {
      const simdjson::dom::array items = value.get_array().value_unsafe();
      out += '[';
      bool first = true;
      for (const simdjson::dom::element item : items) {
        if (!first) out += ',';
        first = false;
        append_compact(out, item);
      }
      out += ']';
      return;
    }
    case element_type::STRING:
      return append_json_string(out, value.get_string().value_unsafe());
    case element_type::INT64:
      return append_json_integer(out, value.get_int64().value_unsafe());
    case element_type::UINT64:
      return append_json_integer(out, value.get_uint64().value_unsafe());
    case element_type::DOUBLE:
      out += simdjson::minify(value);  // simdjson's own shortest form; rare in data
      return;
    case element_type::BOOL:
      out += value.get_bool().value_unsafe() ? "true" : "false";
      return;
    case element_type::NULL_VALUE:
      out += "null";
      return;
  }
}

std::string compact_json(const simdjson::dom::element& value) {
  thread_local std::string scratch;  // keeps its capacity: the largest `data` seen here
  scratch.clear();
  append_compact(scratch, value);
  return scratch;
}

}  // namespace herald::server
