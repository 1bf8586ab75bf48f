// PostgresStore: the Store contract (include/herald/store.hpp) on PostgreSQL. Each call is
// one job of prepared statements on the pool (one implicit transaction) — appends go through
// the AppendBatcher, which puts many into one job under load; a job's result is
// parsed on the connection's strand and handed to the Completion, which posts it onto the
// caller's executor. The semantics are MemoryStore's (src/memory_store.cpp), clause by clause.

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "herald/postgres/store.hpp"
#include "append_batcher.hpp"
#include "migrations.hpp"
#include "pool.hpp"

namespace herald::postgres {
namespace {

using namespace detail;

std::string ms(TimePoint t) {
  return std::to_string(to_unix_ms(t));
}
std::string num(std::int64_t v) {
  return std::to_string(v);
}
// A page size as a bigint parameter (plus one row that tells whether there is more).
std::string page(std::size_t limit, std::size_t extra = 0) {
  const std::uint64_t n = std::min<std::uint64_t>(limit, std::uint64_t{1} << 62);
  return std::to_string(n + extra);
}

std::shared_ptr<const Notification> notification_of(const PGresult* r, int row) {
  auto n = std::make_shared<Notification>();
  n->id = from_db(get_i64(r, row, 4));
  n->type = get_text(r, row, 5);
  n->data = get_text(r, row, 6);
  n->sender = get_text(r, row, 7);
  n->created_at = from_unix_ms(get_i64(r, row, 8));
  if (!is_null(r, row, 9)) n->expires_at = from_unix_ms(get_i64(r, row, 9));
  n->idempotency_key = get_text(r, row, 10);
  return n;
}

StreamInfo info_of(const PGresult* r, Epoch epoch) {
  StreamInfo info;
  info.epoch = epoch;
  if (PQntuples(r) > 0 && !is_null(r, 0, 0)) {
    info.head = from_db(get_i64(r, 0, 0));
    info.trimmed_through = from_db(get_i64(r, 0, 1));
  }
  return info;
}

// Rows of a read: the stream facts, then entries in query order (one notification object
// per id, shared like MemoryStore's). One row beyond `limit` means `more`.
ReadResult read_result(const PGresult* r, const StreamId& stream, std::size_t limit, Epoch epoch) {
  ReadResult out;
  out.info = info_of(r, epoch);
  std::map<NotificationId, std::shared_ptr<const Notification>> seen;
  for (int row = 0; row < PQntuples(r); ++row) {
    if (is_null(r, row, 2) || is_null(r, row, 4)) continue;
    if (out.entries.size() == limit) {
      out.more = true;
      break;
    }
    auto& note = seen[from_db(get_i64(r, row, 4))];
    if (!note) note = notification_of(r, row);
    out.entries.push_back(Entry{stream, from_db(get_i64(r, row, 2)), get_bool(r, row, 3), note});
  }
  return out;
}

std::vector<std::string> column_texts(const PGresult* r) {
  std::vector<std::string> out;
  out.reserve(static_cast<std::size_t>(PQntuples(r)));
  for (int row = 0; row < PQntuples(r); ++row) out.push_back(get_text(r, row, 0));
  return out;
}

DeadLetter dead_letter_of(const PGresult* r, int row) {
  DeadLetter d;
  d.user = get_text(r, row, 0);
  d.seq = from_db(get_i64(r, row, 1));
  d.notification_id = from_db(get_i64(r, row, 2));
  d.attempts = static_cast<std::uint32_t>(get_i64(r, row, 3));
  d.at = from_unix_ms(get_i64(r, row, 4));
  d.reason = get_text(r, row, 5);
  return d;
}

class PostgresStoreImpl;

// purge_expired as a chain of bounded batches: expired entries, then expired notifications,
// then old idempotency keys; each batch is its own statement and transaction. Yields the
// number of entries deleted.
class Purge : public std::enable_shared_from_this<Purge> {
 public:
  Purge(std::shared_ptr<Pool> pool, TimePoint now, const PostgresOptions& o,
        Completion<std::uint64_t> done)
      : pool_(std::move(pool)),
        now_(ms(now)),
        horizon_(ms(now - o.idempotency_retention)),
        batch_(o.purge_batch),
        done_(std::move(done)) {}

  void run() {
    static constexpr Stmt kSteps[] = {Stmt::purge_entries, Stmt::purge_notes, Stmt::purge_keys};
    if (step_ == 3) return done_(entries_);
    const Stmt stmt = kSteps[step_];
    Job job;
    job.queries.push_back(
        Query{stmt, {stmt == Stmt::purge_keys ? horizon_ : now_, std::to_string(batch_)}});
    job.done = [self = shared_from_this()](JobResult r) {
      if (!r.ok()) return self->done_(r.status());
      const std::uint64_t n = affected(r.value()[0].get());
      if (self->step_ == 0) self->entries_ += n;
      if (n < self->batch_) ++self->step_;  // a short batch: this step is done
      self->run();
    };
    pool_->submit(std::move(job));
  }

 private:
  std::shared_ptr<Pool> pool_;
  std::string now_;
  std::string horizon_;
  std::uint64_t batch_;
  Completion<std::uint64_t> done_;
  std::size_t step_ = 0;
  std::uint64_t entries_ = 0;
};

// Names joined by '\n' and back (muted types and topics hold no control character).
std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : "\n") + n;
  return out;
}
std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> out;
  for (std::size_t start = 0; start < text.size();) {
    const std::size_t end = std::min(text.find('\n', start), text.size());
    out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::vector<UserPreferences> preferences_of(const PGresult* r) {
  std::vector<UserPreferences> out;
  for (int row = 0; row < PQntuples(r); ++row) {
    UserPreferences u;
    u.user = get_text(r, row, 0);
    u.preferences.muted_types = split(get_text(r, row, 1));
    u.preferences.muted_topics = split(get_text(r, row, 2));
    u.preferences.critical_only = get_bool(r, row, 3);
    out.push_back(std::move(u));
  }
  return out;
}

// One step of trim_inboxes: inbox entries of old notifications (and then old notifications
// no entry holds), then, if the batch is not full yet, entries beyond the newest N. Each
// statement is bounded by the step's limit and is its own transaction.
void trim_step(const std::shared_ptr<Pool>& pool, const InboxRetention& rule,
               Completion<std::uint64_t> done) {
  auto by_count = [pool, rule](std::uint64_t removed, Completion<std::uint64_t> finish) {
    if (rule.max_entries == 0 || removed >= rule.limit) return finish(removed);
    Job job;
    job.queries.push_back(Query{Stmt::trim_many, {page(rule.max_entries), page(rule.limit - removed)}});
    job.done = [removed, finish = std::move(finish)](JobResult r) mutable {
      if (!r.ok()) return finish(r.status());
      finish(removed + affected(r.value()[0].get()));
    };
    pool->submit(std::move(job));
  };
  if (rule.before_id == 0) return by_count(0, std::move(done));
  const std::string cut = std::to_string(to_db(rule.before_id));
  Job job;
  job.queries.push_back(Query{Stmt::trim_old, {cut, page(rule.limit)}});
  job.queries.push_back(Query{Stmt::drop_orphans, {cut, page(rule.limit)}});
  job.done = [by_count, done = std::move(done)](JobResult r) mutable {
    if (!r.ok()) return done(r.status());
    by_count(affected(r.value()[0].get()), std::move(done));
  };
  pool->submit(std::move(job));
}

class PostgresStoreImpl final : public PostgresStore {
 public:
  PostgresStoreImpl(asio::io_context& io, PostgresOptions options, Epoch epoch)
      : io_(io), options_(std::move(options)), epoch_(epoch) {
    auto config = std::make_shared<ConnConfig>();
    config->url = options_.url;
    config->search_path = quoted_schema(options_.schema);
    config->statement_timeout_ms = std::to_string(options_.statement_timeout.count());
    config->connect_timeout = options_.connect_timeout;
    config->max_reconnect_delay = options_.max_reconnect_delay;
    pool_ = Pool::create(io, std::move(config),
                         Pool::Limits{options_.pool_size, options_.pipeline_depth,
                                      options_.max_queued});
    AppendBatcher::Limits batches;
    batches.max_inflight = options_.pool_size;
    batches.max_requests = options_.append_batch;
    batches.max_queued = options_.max_queued;
    appender_ = std::make_shared<AppendBatcher>(pool_, epoch_, batches);
  }

  ~PostgresStoreImpl() override { close(); }

  Epoch epoch() const noexcept override { return epoch_; }
  std::size_t connections() const noexcept override { return pool_->ready(); }
  void close() override {
    pool_->close(io_, kCloseWait);
    appender_->close();
  }

  void ready(Done done) override {
    run<void>(std::move(done), {{Stmt::ping, {}}}, [](Results&) { return Result<void>(); });
  }

  void append(AppendRequest request, Completion<AppendResult> done) override {
    if (!request.notification) {
      return done(Status(Errc::invalid_argument, "append: the request carries no notification"));
    }
    appender_->append(std::move(request), std::move(done));
  }

  void read(StreamId stream, ReadQuery q, Completion<ReadResult> done) override {
    const Stmt stmt =
        q.order == ReadQuery::Order::ascending ? Stmt::read_asc : Stmt::read_desc;
    // An empty range reads only the stream facts (LIMIT 0 yields the one row of them).
    const bool empty = q.limit == 0 || q.before <= q.after;
    Params params = {stream.str(), num(clamp_seq(q.after)), num(clamp_seq(q.before)), ms(q.now),
                     empty ? "0" : page(q.limit, 1)};
    run<ReadResult>(std::move(done), {{stmt, std::move(params)}},
                    [stream, limit = q.limit, epoch = epoch_](Results& r) -> Result<ReadResult> {
                      return read_result(r[0].get(), stream, limit, epoch);
                    });
  }

  void inbox_state(UserId user, TimePoint now, Completion<InboxState> done) override {
    Params params = {StreamId::inbox(user).str(), user, ms(now)};
    run<InboxState>(std::move(done), {{Stmt::inbox_state, std::move(params)}},
                    [epoch = epoch_](Results& r) -> Result<InboxState> {
                      const PGresult* res = r[0].get();
                      InboxState s;
                      s.info = info_of(res, epoch);
                      if (!is_null(res, 0, 2)) s.ack_cursor = from_db(get_i64(res, 0, 2));
                      if (!is_null(res, 0, 3)) s.unread = from_db(get_i64(res, 0, 3));
                      return s;
                    });
  }

  void mark_read(UserId user, std::vector<Seq> seqs, Completion<std::uint64_t> done) override {
    Query q = seqs.empty()
                  ? Query{Stmt::mark_read_all, {StreamId::inbox(user).str()}}
                  : Query{Stmt::mark_read_some, {StreamId::inbox(user).str(), bigint_array(seqs)}};
    run_count(std::move(done), std::move(q));
  }

  // An empty `seqs` removes nothing (as in MemoryStore).
  void remove(UserId user, std::vector<Seq> seqs, Completion<std::uint64_t> done) override {
    run_count(std::move(done),
              Query{Stmt::remove, {StreamId::inbox(user).str(), bigint_array(seqs)}});
  }

  void advance_ack_cursor(UserId user, Seq seq, Completion<Seq> done) override {
    run<Seq>(std::move(done), {{Stmt::advance_ack, {user, num(clamp_seq(seq))}}},
             [](Results& r) -> Result<Seq> { return from_db(get_i64(r[0].get(), 0, 0)); });
  }

  void subscribe(UserId user, std::string topic, Completion<bool> done) override {
    run_flag(std::move(done), Query{Stmt::subscribe, {std::move(topic), std::move(user)}});
  }

  void unsubscribe(UserId user, std::string topic, Completion<bool> done) override {
    run_flag(std::move(done), Query{Stmt::unsubscribe, {std::move(topic), std::move(user)}});
  }

  void subscribers(std::string topic, UserId after, std::size_t limit,
                   Completion<std::vector<UserId>> done) override {
    run<std::vector<UserId>>(
        std::move(done), {{Stmt::subscribers, {std::move(topic), std::move(after), page(limit)}}},
        [](Results& r) -> Result<std::vector<UserId>> { return column_texts(r[0].get()); });
  }

  void subscriptions(UserId user, std::string after, std::size_t limit,
                     Completion<std::vector<std::string>> done) override {
    run<std::vector<std::string>>(
        std::move(done), {{Stmt::subscriptions, {std::move(user), std::move(after), page(limit)}}},
        [](Results& r) -> Result<std::vector<std::string>> { return column_texts(r[0].get()); });
  }

  void add_dead_letter(DeadLetter d, Done done) override {
    Params params = {d.user, num(clamp_seq(d.seq)), num(to_db(d.notification_id)),
                     num(d.attempts), ms(d.at), d.reason};
    run<void>(std::move(done), {{Stmt::add_dead_letter, std::move(params)}},
              [](Results&) { return Result<void>(); });
  }

  void dead_letters(UserId user, Seq after, std::size_t limit,
                    Completion<std::vector<DeadLetter>> done) override {
    run<std::vector<DeadLetter>>(
        std::move(done),
        {{Stmt::dead_letters, {std::move(user), num(clamp_seq(after)), page(limit)}}},
        [](Results& r) -> Result<std::vector<DeadLetter>> {
          std::vector<DeadLetter> out;
          for (int row = 0; row < PQntuples(r[0].get()); ++row) {
            out.push_back(dead_letter_of(r[0].get(), row));
          }
          return out;
        });
  }

  void remove_dead_letter(UserId user, Seq seq, Completion<bool> done) override {
    run_flag(std::move(done),
             Query{Stmt::remove_dead_letter, {std::move(user), num(clamp_seq(seq))}});
  }

  void purge_expired(TimePoint now, Completion<std::uint64_t> done) override {
    std::make_shared<Purge>(pool_, now, options_, std::move(done))->run();
  }

  void set_preferences(UserId user, Preferences p, Done done) override {
    Query q = p.empty() ? Query{Stmt::delete_preferences, {std::move(user)}}
                        : Query{Stmt::put_preferences,
                                {std::move(user), joined(p.muted_types), joined(p.muted_topics),
                                 p.critical_only ? "true" : "false"}};
    run<void>(std::move(done), {std::move(q)}, [](Results&) { return Result<void>(); });
  }

  void preferences(std::vector<UserId> users,
                   Completion<std::vector<UserPreferences>> done) override {
    ArrayLiteral list;
    for (const UserId& u : users) list.add_text(u);
    run<std::vector<UserPreferences>>(
        std::move(done), {{Stmt::get_preferences, {std::move(list).finish()}}},
        [](Results& r) -> Result<std::vector<UserPreferences>> {
          return preferences_of(r[0].get());
        });
  }

  void trim_inboxes(InboxRetention rule, Completion<std::uint64_t> done) override {
    trim_step(pool_, rule, std::move(done));
  }

  void topics(std::string after, std::size_t limit,
              Completion<std::vector<TopicCount>> done) override {
    run<std::vector<TopicCount>>(
        std::move(done), {{Stmt::topics, {std::move(after), page(limit)}}},
        [](Results& r) -> Result<std::vector<TopicCount>> {
          const PGresult* rows = r[0].get();
          std::vector<TopicCount> out;
          out.reserve(static_cast<std::size_t>(PQntuples(rows)));
          for (int row = 0; row < PQntuples(rows); ++row)
            out.push_back({get_text(rows, row, 0),
                           static_cast<std::uint64_t>(get_i64(rows, row, 1))});
          return out;
        });
  }

 private:
  using Results = std::vector<PgResult>;

  // Submits `queries` as one job; `parse` turns their results into the value (it runs on a
  // connection strand and must not throw or block).
  template <class T, class Parse>
  void run(Completion<T> done, std::vector<Query> queries, Parse parse) {
    Job job;
    job.queries = std::move(queries);
    job.done = [done = std::move(done), parse = std::move(parse)](JobResult r) mutable {
      if (!r.ok()) return done(r.status());
      done(parse(r.value()));
    };
    pool_->submit(std::move(job));
  }

  // A statement whose answer is how many rows it changed.
  void run_count(Completion<std::uint64_t> done, Query q) {
    run<std::uint64_t>(std::move(done), {std::move(q)},
                       [](Results& r) -> Result<std::uint64_t> { return affected(r[0].get()); });
  }

  // A statement whose answer is whether it changed a row.
  void run_flag(Completion<bool> done, Query q) {
    run<bool>(std::move(done), {std::move(q)},
              [](Results& r) -> Result<bool> { return affected(r[0].get()) > 0; });
  }

  // How long close() waits for the loop to drop the connections' jobs.
  static constexpr std::chrono::milliseconds kCloseWait{5'000};

  asio::io_context& io_;
  const PostgresOptions options_;
  const Epoch epoch_;
  std::shared_ptr<Pool> pool_;
  std::shared_ptr<AppendBatcher> appender_;
};

}  // namespace

std::shared_ptr<PostgresStore> PostgresStore::create(asio::io_context& io,
                                                     PostgresOptions options) {
  const Epoch epoch = prepare_schema(options);
  return std::make_shared<PostgresStoreImpl>(io, std::move(options), epoch);
}

}  // namespace herald::postgres
