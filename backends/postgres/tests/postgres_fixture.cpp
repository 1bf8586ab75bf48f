// The conformance fixture of the PostgreSQL backend: a Store only, each one a PostgresStore
// on a fresh schema of the process's private server (pg_env.hpp).

#include <memory>
#include <string>

#include "conformance/fixture.hpp"
#include "pg_env.hpp"

namespace herald::conformance {
namespace {

class PostgresFixture final : public Fixture {
 public:
  // Starts the server now: if it cannot start, every case fails with the reason.
  PostgresFixture() : env_(postgres::test::TestEnv::get()) {}

  std::string name() const override { return "postgres"; }
  bool has_store() const override { return true; }
  bool has_registry() const override { return false; }
  bool has_broker() const override { return false; }

  std::shared_ptr<Store> make_store() override { return env_.make_store(); }
  std::shared_ptr<Registry> make_registry() override { return nullptr; }
  std::unique_ptr<Broker> make_broker(std::shared_ptr<Executor>) override { return nullptr; }
  void expire(Duration) override {}

 private:
  postgres::test::TestEnv& env_;
};

}  // namespace

std::unique_ptr<Fixture> make_fixture() {
  return std::make_unique<PostgresFixture>();
}

}  // namespace herald::conformance
