// The conformance fixture of the SQLite backend: a Store only, each one a SqliteStore on a
// new database file in the program's private temporary directory.

#include <atomic>
#include <memory>
#include <string>

#include "conformance/fixture.hpp"
#include "herald/sqlite/store.hpp"
#include "support/temp_dir.hpp"

namespace herald::conformance {
namespace {

class SqliteFixture final : public Fixture {
 public:
  std::string name() const override { return "sqlite"; }
  bool has_store() const override { return true; }
  bool has_registry() const override { return false; }
  bool has_broker() const override { return false; }

  std::shared_ptr<Store> make_store() override {
    sqlite::SqliteOptions options;
    options.path = dir_.path() + "/store-" + std::to_string(++count_) + ".db";
    return sqlite::open_store(std::move(options));
  }
  std::shared_ptr<Registry> make_registry() override { return nullptr; }
  std::unique_ptr<Broker> make_broker(std::shared_ptr<Executor>) override { return nullptr; }
  void expire(Duration) override {}

 private:
  test::TempDir dir_;
  int count_ = 0;
};

}  // namespace

std::unique_ptr<Fixture> make_fixture() {
  return std::make_unique<SqliteFixture>();
}

}  // namespace herald::conformance
