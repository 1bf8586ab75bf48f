#pragma once
// A parsed JSON value written back as compact text, as herald-server stores a notification's
// `data`: byte for byte what simdjson::minify writes, with one allocation for the result.

#include <simdjson.h>

#include <string>

namespace herald::server {

/// Appends `value` to `out` as compact JSON: the same bytes as simdjson::minify(value)
/// (strings escaped alike, numbers in the same form). Recurses along the value's nesting,
/// which the parser bounded (simdjson's depth limit). Never throws but std::bad_alloc.
void append_compact(std::string& out, const simdjson::dom::element& value);

/// `value` as compact JSON text in a string of its exact size: written first into a
/// buffer this thread reuses, so only the result is allocated (minify grows its buffer a
/// byte at a time, ~8 allocations for a small object).
std::string compact_json(const simdjson::dom::element& value);

}  // namespace herald::server
