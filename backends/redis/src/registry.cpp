// RedisRegistry: the Registry contract (herald/registry.hpp) in Redis.
//
// Keys (P = RedisOptions::key_prefix):
//   P instances            sorted set: instance -> expiry (ms, Redis clock)
//   P sessions             hash: session id -> JSON [user, instance, connected_at_ms]
//   P user:<user>          set of that user's session ids
//   P instance:<instance>  set of that instance's session ids
//   P loads                hash: instance -> its last InstanceLoad, "sessions connections
//                          queued_bytes started_ms reported_ms" (decimal numbers)
// A session is live iff its instance's expiry is in the future. Every operation is one call
// of one Lua script (atomic, one round trip); the script is loaded once per connection
// and called by its SHA (EVAL again if Redis forgot it, e.g. after a restart).
//
// A heartbeat first collects expired instances with their sessions, so an expiry is final:
// a later heartbeat under the same id does not revive sessions of the process that died.
// The users left with no session record at all are its answer (the Registry's
// Departures): the script is atomic, so exactly one heartbeat collects each. add_session and
// remove_session report the 0 -> 1 and 1 -> 0 changes of a user's set of session records in
// the same atomic step, so every change of a user's presence is reported exactly once.
//
// Threading: public methods may be called from any thread; the work runs on the strand of
// the connection; completions are posted to the caller's executor by Completion.

#include <algorithm>  // standard headers first: Asio picks its allocator by what they define
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <asio/post.hpp>

#include "connection.hpp"
#include "herald/redis/redis.hpp"

namespace herald::redis {
namespace {

const char* const kScript = R"lua(
local P, op = ARGV[1], ARGV[2]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local INSTANCES, SESSIONS = P .. 'instances', P .. 'sessions'

-- Drops a session; yields its user if that was the user's last session record, else nil.
local function drop_session(id)
  local rec = redis.call('HGET', SESSIONS, id)
  if not rec then return nil end
  local r = cjson.decode(rec)
  redis.call('SREM', P .. 'user:' .. r[1], id)
  redis.call('SREM', P .. 'instance:' .. r[2], id)
  redis.call('HDEL', SESSIONS, id)
  if redis.call('SCARD', P .. 'user:' .. r[1]) == 0 then return r[1] end
  return nil
end

-- Drops an instance with its sessions; appends [user, instance] to `out` for each user
-- whose last session record it held (users sorted: a deterministic answer).
local function drop_instance(instance, out)
  local last = {}
  for _, id in ipairs(redis.call('SMEMBERS', P .. 'instance:' .. instance)) do
    local user = drop_session(id)
    if user then last[#last + 1] = user end
  end
  redis.call('DEL', P .. 'instance:' .. instance)
  redis.call('ZREM', INSTANCES, instance)
  table.sort(last)
  for _, user in ipairs(last) do
    out[#out + 1] = user
    out[#out + 1] = instance
  end
  redis.call('HDEL', P .. 'loads', instance)
end

local live = {}
local function is_live(instance)
  if live[instance] == nil then
    local expiry = redis.call('ZSCORE', INSTANCES, instance)
    live[instance] = expiry ~= false and tonumber(expiry) > now
  end
  return live[instance]
end

-- Calls `f(id, record)` for each session of `user` whose instance is live.
local function live_sessions(user, f)
  for _, id in ipairs(redis.call('SMEMBERS', P .. 'user:' .. user)) do
    local rec = redis.call('HGET', SESSIONS, id)
    if rec then
      local r = cjson.decode(rec)
      if is_live(r[2]) then f(id, r) end
    end
  end
end

if op == 'heartbeat' then -- instance, ttl_ms, collect ('1' or '0')
  -- flat [user, expired instance, ...]: users whose last session record was collected
  local departed = {}
  if ARGV[5] == '1' then
    for _, dead in ipairs(redis.call('ZRANGEBYSCORE', INSTANCES, '-inf', now)) do
      drop_instance(dead, departed)
    end
  end
  redis.call('ZADD', INSTANCES, now + tonumber(ARGV[4]), ARGV[3])
  return departed
elseif op == 'remove_instance' then -- instance: flat [user, instance, ...] as heartbeat's
  local departed = {}
  drop_instance(ARGV[3], departed)
  return departed
elseif op == 'add_session' then -- session, user, instance, connected_at_ms: 1 if first
  local first = redis.call('SCARD', P .. 'user:' .. ARGV[4]) == 0
  drop_session(ARGV[3])
  redis.call('HSET', SESSIONS, ARGV[3], cjson.encode({ARGV[4], ARGV[5], ARGV[6]}))
  redis.call('SADD', P .. 'user:' .. ARGV[4], ARGV[3])
  redis.call('SADD', P .. 'instance:' .. ARGV[5], ARGV[3])
  if first then return 1 end
  return 0
elseif op == 'remove_session' then -- session: 1 if it was its user's last
  if drop_session(ARGV[3]) then return 1 end
  return 0
elseif op == 'locate' then -- users...: flat [user, instance, ...], one per pair
  local out, seen = {}, {}
  for i = 3, #ARGV do
    local user = ARGV[i]
    if not seen[user] then
      seen[user] = true
      local where = {}
      live_sessions(user, function(_, r)
        if not where[r[2]] then
          where[r[2]] = true
          out[#out + 1] = user
          out[#out + 1] = r[2]
        end
      end)
    end
  end
  return out
elseif op == 'sessions' then -- user: flat [session, user, instance, connected_at_ms, ...]
  local out = {}
  live_sessions(ARGV[3], function(id, r)
    out[#out + 1] = id
    out[#out + 1] = r[1]
    out[#out + 1] = r[2]
    out[#out + 1] = r[3]
  end)
  return out
elseif op == 'instances' then
  return redis.call('ZRANGEBYSCORE', INSTANCES, '(' .. now, '+inf')
elseif op == 'report_load' then -- instance, load: kept only for a live instance
  if is_live(ARGV[3]) then redis.call('HSET', P .. 'loads', ARGV[3], ARGV[4]) end
  return 1
elseif op == 'instance_loads' then -- flat [instance, load or '', ...]
  local out = {}
  for _, instance in ipairs(redis.call('ZRANGEBYSCORE', INSTANCES, '(' .. now, '+inf')) do
    out[#out + 1] = instance
    out[#out + 1] = redis.call('HGET', P .. 'loads', instance) or ''
  end
  return out
end
return redis.error_reply('herald registry: unknown operation ' .. tostring(op))
)lua";

// InstanceLoad as the registry keeps it: "sessions connections queued_bytes started_ms
// reported_ms".
std::string load_text(const InstanceLoad& l) {
  return std::to_string(l.sessions) + " " + std::to_string(l.connections) + " " +
         std::to_string(l.queued_bytes) + " " + std::to_string(to_unix_ms(l.started_at)) + " " +
         std::to_string(to_unix_ms(l.reported_at));
}

// The load of load_text(); a default one for "" (not reported yet) or another shape.
InstanceLoad parse_load(const std::string& text) {
  std::istringstream in(text);
  std::uint64_t sessions = 0, connections = 0, queued = 0;
  std::int64_t started_ms = 0, reported_ms = 0;
  if (!(in >> sessions >> connections >> queued >> started_ms >> reported_ms)) return {};
  return InstanceLoad{sessions, connections, queued, from_unix_ms(started_ms),
                      from_unix_ms(reported_ms)};
}

// The strings of an array reply; false if the reply has another shape.
bool strings_of(const Reply& reply, std::vector<std::string>& out) {
  if (reply.type != Reply::Type::array) return false;
  out.reserve(reply.elements.size());
  for (const Reply& e : reply.elements) {
    if (e.type != Reply::Type::string) return false;
    out.push_back(e.str);
  }
  return true;
}

class RegistryImpl final : public RedisRegistry,
                           public std::enable_shared_from_this<RegistryImpl> {
 public:
  RegistryImpl(asio::io_context& io, RedisOptions options)
      : options_(std::move(options)),
        strand_(asio::make_strand(io)),
        conn_(std::make_shared<Connection>(strand_, checked_endpoint(options_), options_,
                                           "registry")) {}

  ~RegistryImpl() override {
    // Stop on the strand, where the connection lives; it is destroyed there too.
    asio::post(strand_, [conn = conn_] { conn->stop(); });
  }

  void start() {
    std::weak_ptr<RegistryImpl> weak = weak_from_this();
    ConnectionEvents events;
    events.on_up = [weak] {
      if (auto self = weak.lock()) self->on_up();
    };
    asio::post(strand_, [conn = conn_, events] { conn->start(events); });
  }

  bool connected() const override { return conn_->up(); }
  std::string last_error() const override { return conn_->last_error(); }

  void heartbeat(InstanceId instance, Duration ttl,
                 Completion<std::vector<Departure>> done) override {
    if (ttl <= Duration::zero())
      return done(Status(Errc::invalid_argument, "heartbeat: ttl must be positive"));
    on_strand([instance = std::move(instance), ttl, done = std::move(done)](RegistryImpl& self) mutable {
      self.heartbeats_[instance] = ttl;
      self.call({"heartbeat", instance, std::to_string(ttl.count()), "1"},
                pairs_of<Departure>(std::move(done)));
    });
  }

  void remove_instance(InstanceId instance,
                       Completion<std::vector<Departure>> done) override {
    on_strand([instance = std::move(instance), done = std::move(done)](RegistryImpl& self) mutable {
      self.heartbeats_.erase(instance);
      for (auto it = self.sessions_.begin(); it != self.sessions_.end();)
        it = it->second.instance == instance ? self.sessions_.erase(it) : std::next(it);
      self.call({"remove_instance", instance}, pairs_of<Departure>(std::move(done)));
    });
  }

  void add_session(SessionRecord s, Completion<bool> done) override {
    on_strand([s = std::move(s), done = std::move(done)](RegistryImpl& self) mutable {
      self.sessions_[s.session] = s;
      self.call(add_args(s), flag_of(std::move(done)));
    });
  }

  void remove_session(SessionRecord s, Completion<bool> done) override {
    on_strand([s = std::move(s), done = std::move(done)](RegistryImpl& self) mutable {
      self.sessions_.erase(s.session);
      self.call({"remove_session", s.session}, flag_of(std::move(done)));
    });
  }

  void locate(std::vector<UserId> users, Completion<std::vector<Location>> done) override {
    if (users.empty()) return done(std::vector<Location>{});
    on_strand([users = std::move(users), done](RegistryImpl& self) mutable {
      std::vector<std::string> args{"locate"};
      args.insert(args.end(), std::make_move_iterator(users.begin()),
                  std::make_move_iterator(users.end()));
      self.call(std::move(args), pairs_of<Location>(std::move(done)));
    });
  }

  void sessions(UserId user, Completion<std::vector<SessionRecord>> done) override {
    on_strand([user = std::move(user), done = std::move(done)](RegistryImpl& self) mutable {
      self.call({"sessions", user}, [done = std::move(done)](Result<Reply> r) {
        std::vector<std::string> flat;
        if (!r.ok()) return done(r.status());
        if (!strings_of(*r, flat) || flat.size() % 4 != 0) return done(bad_reply(*r));
        std::vector<SessionRecord> out;
        for (std::size_t i = 0; i < flat.size(); i += 4) {
          SessionRecord s{flat[i], flat[i + 1], flat[i + 2], {}};
          s.connected_at = from_unix_ms(std::stoll(flat[i + 3]));
          out.push_back(std::move(s));
        }
        std::sort(out.begin(), out.end(), [](const SessionRecord& a, const SessionRecord& b) {
          return a.session < b.session;
        });
        done(std::move(out));
      });
    });
  }

  void instances(Completion<std::vector<InstanceId>> done) override {
    on_strand([done = std::move(done)](RegistryImpl& self) mutable {
      self.call({"instances"}, [done = std::move(done)](Result<Reply> r) {
        std::vector<std::string> names;
        if (!r.ok()) return done(r.status());
        if (!strings_of(*r, names)) return done(bad_reply(*r));
        std::sort(names.begin(), names.end());
        done(std::move(names));
      });
    });
  }

  void report_load(InstanceId instance, InstanceLoad load, Done done) override {
    on_strand([instance = std::move(instance), load,
               done = std::move(done)](RegistryImpl& self) mutable {
      self.call({"report_load", instance, load_text(load)}, status_of(std::move(done)));
    });
  }

  void instance_loads(Completion<std::vector<InstanceStatus>> done) override {
    on_strand([done = std::move(done)](RegistryImpl& self) mutable {
      self.call({"instance_loads"}, [done = std::move(done)](Result<Reply> r) {
        std::vector<std::string> flat;
        if (!r.ok()) return done(r.status());
        if (!strings_of(*r, flat) || flat.size() % 2 != 0) return done(bad_reply(*r));
        std::vector<InstanceStatus> out;
        out.reserve(flat.size() / 2);
        for (std::size_t i = 0; i < flat.size(); i += 2)
          out.push_back({std::move(flat[i]), parse_load(flat[i + 1])});
        std::sort(out.begin(), out.end(), [](const InstanceStatus& a, const InstanceStatus& b) {
          return a.instance < b.instance;
        });
        done(std::move(out));
      });
    });
  }

 private:
  using Callback = Connection::Callback;

  template <class Work>
  void on_strand(Work work) {
    asio::post(strand_, [self = shared_from_this(), work = std::move(work)]() mutable {
      work(*self);
    });
  }

  static Status bad_reply(const Reply& r) {
    return Status(Errc::internal, "redis registry: unexpected reply" +
                                      (r.is_error() ? ": " + r.str : std::string()));
  }

  // A reply [a1, b1, a2, b2, …] as {T{a1, b1}, T{a2, b2}, …} (T: two string fields).
  template <class T>
  static Callback pairs_of(Completion<std::vector<T>> done) {
    return [done = std::move(done)](Result<Reply> r) {
      std::vector<std::string> flat;
      if (!r.ok()) return done(r.status());
      if (!strings_of(*r, flat) || flat.size() % 2 != 0) return done(bad_reply(*r));
      std::vector<T> out;
      out.reserve(flat.size() / 2);
      for (std::size_t i = 0; i < flat.size(); i += 2)
        out.push_back(T{std::move(flat[i]), std::move(flat[i + 1])});
      done(std::move(out));
    };
  }

  // An integer reply 1 / 0 as true / false.
  static Callback flag_of(Completion<bool> done) {
    return [done = std::move(done)](Result<Reply> r) {
      if (!r.ok()) return done(r.status());
      if (r->type != Reply::Type::integer) return done(bad_reply(*r));
      done(r->integer != 0);
    };
  }

  static Callback status_of(Done done) {
    return [done = std::move(done)](Result<Reply> r) {
      if (!r.ok()) return done(r.status());
      if (r->is_error()) return done(bad_reply(*r));
      done(Status::ok_status());
    };
  }

  static std::vector<std::string> add_args(const SessionRecord& s) {
    return {"add_session", s.session, s.user, s.instance, std::to_string(to_unix_ms(s.connected_at))};
  }

  // Runs the script with `args` (operation first). Uses the loaded SHA when known; a
  // NOSCRIPT answer (Redis restarted) is retried once with the script text.
  void call(std::vector<std::string> args, Callback done) {
    std::vector<std::string> command;
    command.reserve(args.size() + 4);
    if (sha_.empty()) {
      command = {"EVAL", kScript, "0", options_.key_prefix};
    } else {
      command = {"EVALSHA", sha_, "0", options_.key_prefix};
    }
    command.insert(command.end(), args.begin(), args.end());
    const bool by_sha = !sha_.empty();
    conn_->command(std::move(command), [self = shared_from_this(), by_sha, args = std::move(args),
                                        done = std::move(done)](Result<Reply> r) mutable {
      if (by_sha && r.ok() && r->is_error() && r->str.rfind("NOSCRIPT", 0) == 0) {
        self->sha_.clear();
        return self->call(std::move(args), std::move(done));
      }
      done(std::move(r));
    });
  }

  // A new connection: load the script, and after a reconnect restore what this registry
  // wrote (Redis may have restarted empty): its instances first, then their sessions. The
  // restoring heartbeats collect nothing: Departures go only to heartbeat() callers.
  void on_up() {
    conn_->command({"SCRIPT", "LOAD", kScript}, [self = shared_from_this()](Result<Reply> r) {
      if (r.ok() && r->type == Reply::Type::string) self->sha_ = r->str;
    });
    if (!ever_up_) {
      ever_up_ = true;
      return;
    }
    auto ignore = [](Result<Reply>) {};
    for (const auto& [instance, ttl] : heartbeats_)
      call({"heartbeat", instance, std::to_string(ttl.count()), "0"}, ignore);
    for (const auto& entry : sessions_) call(add_args(entry.second), ignore);
  }

  const RedisOptions options_;
  Strand strand_;
  std::shared_ptr<Connection> conn_;
  // On the strand:
  std::string sha_;                                // of kScript, once loaded
  bool ever_up_ = false;
  std::map<InstanceId, Duration> heartbeats_;      // what to restore after a reconnect
  std::map<SessionId, SessionRecord> sessions_;
};

}  // namespace

std::shared_ptr<RedisRegistry> RedisRegistry::create(asio::io_context& io, RedisOptions options) {
  auto registry = std::make_shared<RegistryImpl>(io, std::move(options));
  registry->start();
  return registry;
}

}  // namespace herald::redis
