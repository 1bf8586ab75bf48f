// The conformance fixture of the PostgreSQL backend: a Store only, each one a PostgresStore
// on a fresh schema of the process's private server (pg_env.hpp).

#include <memory>
#include <string>

#include "conformance/fixture.hpp"
#include "pg_env.hpp"

namespace herald::conformance {
namespace {

// The server starts with the first store, so cases of the suites this program does not
// have (Broker, Registry) start none; if it cannot start, make_store() throws and the case
// fails with the reason.
class PostgresFixture final : public Fixture {
 public:
  std::string name() const override { return "postgres"; }
  bool has_store() const override { return true; }
  bool has_registry() const override { return false; }
  bool has_broker() const override { return false; }

  std::shared_ptr<Store> make_store() override {
    return postgres::test::TestEnv::get().make_store();
  }
  std::shared_ptr<Registry> make_registry() override { return nullptr; }
  std::unique_ptr<Broker> make_broker(std::shared_ptr<Executor>) override { return nullptr; }
  void expire(Duration) override {}
};

}  // namespace

std::unique_ptr<Fixture> make_fixture() {
  return std::make_unique<PostgresFixture>();
}

}  // namespace herald::conformance
