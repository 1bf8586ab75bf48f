#pragma once
// Argument checks of the Engine's query API and the helper that runs a checked query on the
// executor; shared by the files that implement Engine's public methods (engine.cpp, admin.cpp).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/engine_impl.hpp"

namespace herald {

// Runs a store/registry query after checking its arguments, on the executor.
template <class T, class Call>
void query(const std::shared_ptr<Engine::Impl>& impl, Status check,
           std::function<void(Result<T>)> done, Call call) {
  impl->post([check = std::move(check), done = std::move(done),
              call = std::move(call)](Engine::Impl& self) mutable {
    if (!check.ok()) return done(check);
    call(self,
         self.store_completion<T>([done](Engine::Impl&, Result<T> r) { done(std::move(r)); }));
  });
}

inline Status check_user(const UserId& user) {
  if (valid_name(user)) return {};
  return Status(Errc::invalid_argument, "invalid user id: 1..200 printable ASCII characters");
}

inline Status check_topic(const std::string& topic) {
  if (valid_name(topic) && topic[0] != '$') return {};
  return Status(Errc::invalid_argument,
                "invalid topic: 1..200 printable ASCII characters, not starting with '$'");
}

inline Status check_limit(std::int64_t limit, std::size_t max_page) {
  if (limit >= 1 && static_cast<std::uint64_t>(limit) <= max_page) return {};
  return Status(Errc::invalid_argument, "limit must be 1.." + std::to_string(max_page));
}

inline Status check_seqs(const std::vector<Seq>& seqs) {
  if (seqs.size() <= 10'000) return {};
  return Status(Errc::invalid_argument, "at most 10000 seqs per call");
}

}  // namespace herald
