// Snowflake ids: layout, uniqueness, monotonicity, clock steps.

#include <doctest/doctest.h>

#include <chrono>
#include <set>
#include <string>

#include "herald/error.hpp"
#include "herald/snowflake.hpp"

using herald::NotificationId;
using herald::SnowflakeGenerator;
using herald::TimePoint;

namespace {
TimePoint at_ms(std::int64_t unix_ms) { return herald::from_unix_ms(unix_ms); }
constexpr std::int64_t kT = 1735689600123;  // 2025-01-01T00:00:00.123Z
}  // namespace

TEST_CASE("snowflake layout: time, node and sequence") {
  SnowflakeGenerator gen(5);
  const NotificationId id = gen.next(at_ms(kT));
  CHECK((id >> 22) == static_cast<NotificationId>(kT - SnowflakeGenerator::kEpochMs));
  CHECK(((id >> 12) & 0x3FF) == 5);
  CHECK((id & 0xFFF) == 0);
  CHECK(SnowflakeGenerator::node_of(id) == 5);
  CHECK(herald::to_unix_ms(SnowflakeGenerator::time_of(id)) == kT);

  const NotificationId second = gen.next(at_ms(kT));
  CHECK((second & 0xFFF) == 1);
  const NotificationId later = gen.next(at_ms(kT + 1));
  CHECK((later & 0xFFF) == 0);  // a new millisecond restarts the sequence
  CHECK(herald::to_unix_ms(SnowflakeGenerator::time_of(later)) == kT + 1);

  SnowflakeGenerator max_node(SnowflakeGenerator::kMaxNode);
  const NotificationId top = max_node.next(at_ms(kT));
  CHECK(SnowflakeGenerator::node_of(top) == 1023);
  CHECK(herald::to_unix_ms(SnowflakeGenerator::time_of(top)) == kT);
}

TEST_CASE("snowflake: 10,000 ids in one millisecond are unique and increasing") {
  SnowflakeGenerator gen(42);
  std::set<NotificationId> seen;
  NotificationId previous = 0;
  for (int i = 0; i < 10000; ++i) {
    const NotificationId id = gen.next(at_ms(kT));
    CHECK_MESSAGE(id > previous, "id " << i << " not increasing");
    previous = id;
    seen.insert(id);
    CHECK(SnowflakeGenerator::node_of(id) == 42);
  }
  CHECK(seen.size() == 10000);
  // 4096 ids per millisecond: the last of 10,000 borrowed two milliseconds from the future.
  CHECK(herald::to_unix_ms(SnowflakeGenerator::time_of(previous)) == kT + 2);
  // When the real clock catches up the borrowed time is not reused.
  const NotificationId next = gen.next(at_ms(kT + 1));
  CHECK(next > previous);
  CHECK(gen.next(at_ms(kT + 3)) > next);
  CHECK(herald::to_unix_ms(SnowflakeGenerator::time_of(gen.next(at_ms(kT + 3)))) == kT + 3);
}

TEST_CASE("snowflake: the clock stepping back keeps the last timestamp") {
  SnowflakeGenerator gen(1);
  const NotificationId a = gen.next(at_ms(kT));
  const NotificationId b = gen.next(at_ms(kT - 5000));
  const NotificationId c = gen.next(at_ms(kT - 1));
  CHECK(b > a);
  CHECK(c > b);
  CHECK(herald::to_unix_ms(SnowflakeGenerator::time_of(b)) == kT);
  CHECK(herald::to_unix_ms(SnowflakeGenerator::time_of(c)) == kT);
  const NotificationId d = gen.next(at_ms(kT + 10));
  CHECK(d > c);
  CHECK(herald::to_unix_ms(SnowflakeGenerator::time_of(d)) == kT + 10);
}

TEST_CASE("snowflake: node out of range throws herald::Error with a clear message") {
  CHECK_THROWS_AS(SnowflakeGenerator(1024), herald::Error);
  CHECK_THROWS_WITH(SnowflakeGenerator(2000),
                    "snowflake node 2000 is out of range 0..1023: set EngineOptions::node_id");
  CHECK_NOTHROW(SnowflakeGenerator(0));
  CHECK_NOTHROW(SnowflakeGenerator(1023));
}
