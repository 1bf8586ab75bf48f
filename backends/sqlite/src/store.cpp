// SqliteStore: the Store contract (include/herald/store.hpp) on one SQLite database file.
// Writes are tasks of the writer Worker (group commit), reads tasks of the reader Worker
// (worker.hpp); each task runs the cached prepared statements of its call and its result is
// handed to the Completion, which posts it onto the caller's executor. The semantics are
// MemoryStore's (src/memory_store.cpp), clause by clause.

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "checkpointer.hpp"
#include "db.hpp"
#include "herald/sqlite/store.hpp"
#include "schema.hpp"
#include "user_data.hpp"
#include "worker.hpp"

namespace herald::sqlite {
namespace {

using namespace detail;

// ---- statements (cached per connection by their address) ----

const char* const kFindKey =
    "SELECT notification_id, created_ms, fingerprint FROM idempotency_keys "
    "WHERE scope = ?1 AND key = ?2";
const char* const kPutKey =
    "INSERT OR REPLACE INTO idempotency_keys (scope, key, notification_id, created_ms, "
    "fingerprint) VALUES (?1, ?2, ?3, ?4, ?5)";
const char* const kPutNote =
    "INSERT OR IGNORE INTO notifications (id, type, data, sender, created_ms, expires_ms, "
    "idempotency_key) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
// The next seq of a stream: the head raised by one (the writer is the only one that writes,
// and each call runs inside the write transaction, so heads never skip nor repeat).
const char* const kNextSeq =
    "INSERT INTO streams (name, head) VALUES (?1, 1) "
    "ON CONFLICT (name) DO UPDATE SET head = head + 1 RETURNING id, head";
const char* const kPutEntry =
    "INSERT INTO entries (stream_id, seq, notification_id, expires_ms) VALUES (?1, ?2, ?3, ?4)";
const char* const kStream = "SELECT id, head, trimmed_through FROM streams WHERE name = ?1";
const char* const kRetentionCut =
    "SELECT seq FROM entries WHERE stream_id = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2";
const char* const kTrim = "DELETE FROM entries WHERE stream_id = ?1 AND seq <= ?2";
const char* const kTrimmed =
    "UPDATE streams SET trimmed_through = max(trimmed_through, ?2) WHERE id = ?1";
#define HERALD_SQLITE_ENTRY_COLUMNS                                                        \
  "SELECT e.seq, e.read, n.id, n.type, n.data, n.sender, n.created_ms, n.expires_ms, "     \
  "n.idempotency_key FROM entries e JOIN notifications n ON n.id = e.notification_id "     \
  "WHERE e.stream_id = ?1 AND e.seq > ?2 AND e.seq < ?3 "                                  \
  "AND (e.expires_ms IS NULL OR e.expires_ms > ?4) "
const char* const kReadAsc = HERALD_SQLITE_ENTRY_COLUMNS "ORDER BY e.seq LIMIT ?5";
const char* const kReadDesc = HERALD_SQLITE_ENTRY_COLUMNS "ORDER BY e.seq DESC LIMIT ?5";
#undef HERALD_SQLITE_ENTRY_COLUMNS
const char* const kAckCursor = "SELECT seq FROM ack_cursors WHERE user_id = ?1";
const char* const kUnread =
    "SELECT count(*) FROM entries WHERE stream_id = ?1 AND read = 0 "
    "AND (expires_ms IS NULL OR expires_ms > ?2)";
const char* const kMarkAll = "UPDATE entries SET read = 1 WHERE stream_id = ?1 AND read = 0";
const char* const kMarkOne =
    "UPDATE entries SET read = 1 WHERE stream_id = ?1 AND seq = ?2 AND read = 0";
const char* const kRemove = "DELETE FROM entries WHERE stream_id = ?1 AND seq = ?2";
const char* const kAdvanceAck =
    "INSERT INTO ack_cursors (user_id, seq) VALUES (?1, ?2) "
    "ON CONFLICT (user_id) DO UPDATE SET seq = max(seq, excluded.seq) RETURNING seq";
const char* const kSubscribe = "INSERT OR IGNORE INTO subscriptions (topic, user_id) VALUES (?1, ?2)";
const char* const kUnsubscribe = "DELETE FROM subscriptions WHERE topic = ?1 AND user_id = ?2";
const char* const kSubscribers =
    "SELECT user_id FROM subscriptions WHERE topic = ?1 AND user_id > ?2 ORDER BY user_id "
    "LIMIT ?3";
const char* const kSubscriptions =
    "SELECT topic FROM subscriptions WHERE user_id = ?1 AND topic > ?2 ORDER BY topic LIMIT ?3";
const char* const kAddDeadLetter =
    "INSERT OR REPLACE INTO dead_letters (user_id, seq, notification_id, attempts, at_ms, "
    "reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
const char* const kDeadLetters =
    "SELECT user_id, seq, notification_id, attempts, at_ms, reason FROM dead_letters "
    "WHERE user_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3";
const char* const kRemoveDeadLetter = "DELETE FROM dead_letters WHERE user_id = ?1 AND seq = ?2";
// The primary key (topic, user_id) is the table's order (WITHOUT ROWID): the groups come in
// topic order and the scan stops after LIMIT of them.
const char* const kTopics =
    "SELECT topic, count(*) FROM subscriptions WHERE topic > ?1 GROUP BY topic ORDER BY topic "
    "LIMIT ?2";
// purge_expired, in this order, each step in batches (WITHOUT ROWID tables: by key).
const char* const kPurgeSteps[] = {
    "DELETE FROM entries WHERE (stream_id, seq) IN "
    "(SELECT stream_id, seq FROM entries WHERE expires_ms <= ?1 LIMIT ?2)",
    "DELETE FROM notifications WHERE id IN "
    "(SELECT id FROM notifications WHERE expires_ms <= ?1 LIMIT ?2)",
    "DELETE FROM idempotency_keys WHERE (scope, key) IN "
    "(SELECT scope, key FROM idempotency_keys WHERE created_ms <= ?1 LIMIT ?2)",
};
const char* const kPing = "SELECT 1";

// ---- helpers ----

// Whether a recorded fingerprint and a new one stand for the same request; an empty one
// (not given) matches any, as the Store contract says.
bool same_request(const std::string& recorded, const std::string& fingerprint) {
  return recorded.empty() || fingerprint.empty() || recorded == fingerprint;
}

// A stream's row: its id (0: no row yet) and facts.
struct StreamRow {
  std::int64_t id = 0;
  StreamInfo info;
};

StreamRow stream_row(Db& db, const StreamId& stream, Epoch epoch) {
  StreamRow row;
  row.info.epoch = epoch;
  Stmt s = db.prepare(kStream);
  s.bind(1, stream.str());
  if (s.step()) {
    row.id = s.i64(0);
    row.info.head = from_db(s.i64(1));
    row.info.trimmed_through = from_db(s.i64(2));
  }
  return row;
}

Result<AppendResult> append_in(Db& db, const AppendRequest& request, Epoch epoch) {
  const Notification& n = *request.notification;
  AppendResult out;
  out.id = n.id;
  const std::int64_t created = to_unix_ms(n.created_at);

  // Only the first chunk of a publish checks and records the key: the following chunks of
  // a fan-out carry the same notification and must not be mistaken for retries.
  if (request.first_chunk && !n.idempotency_key.empty()) {
    Stmt find = db.prepare(kFindKey);
    find.bind(1, request.idempotency_scope).bind(2, n.idempotency_key);
    if (find.step() && find.i64(1) > created - request.dedup_window.count()) {
      if (!same_request(find.text(2), request.fingerprint)) {
        return idempotency_conflict(n.idempotency_key);
      }
      out.duplicate = true;
      out.id = from_db(find.i64(0));
      return out;
    }
    db.prepare(kPutKey)
        .bind(1, request.idempotency_scope)
        .bind(2, n.idempotency_key)
        .bind(3, to_db(n.id))
        .bind(4, created)
        .bind(5, request.fingerprint)
        .run();
  }
  if (request.streams.empty()) return out;

  {
    Stmt note = db.prepare(kPutNote);
    note.bind(1, to_db(n.id)).bind(2, n.type).bind(3, n.data).bind(4, n.sender).bind(5, created);
    if (n.expires_at) {
      note.bind(6, to_unix_ms(*n.expires_at));
    } else {
      note.bind_null(6);
    }
    note.bind(7, n.idempotency_key).run();
  }
  out.positions.reserve(request.streams.size());
  for (const StreamId& stream : request.streams) {
    std::int64_t stream_id = 0;
    std::int64_t seq = 0;
    {
      Stmt next = db.prepare(kNextSeq);
      next.bind(1, stream.str());
      if (!next.step()) throw DbError(SQLITE_INTERNAL, "no head returned for " + stream.str());
      stream_id = next.i64(0);
      seq = next.i64(1);
    }
    Stmt entry = db.prepare(kPutEntry);
    entry.bind(1, stream_id).bind(2, seq).bind(3, to_db(n.id));
    if (n.expires_at) {
      entry.bind(4, to_unix_ms(*n.expires_at));
    } else {
      entry.bind_null(4);
    }
    entry.run();
    out.positions.push_back(Position{stream, from_db(seq), epoch});
  }

  // Topic retention: keep the newest topic_retention entries (inboxes are never trimmed).
  if (request.topic_retention > 0) {
    const auto keep = static_cast<Seq>(request.topic_retention);
    std::vector<const StreamId*> done;
    for (const StreamId& stream : request.streams) {
      if (stream.is_inbox()) continue;
      if (std::any_of(done.begin(), done.end(), [&](const StreamId* s) { return *s == stream; }))
        continue;
      done.push_back(&stream);
      const StreamRow row = stream_row(db, stream, epoch);
      if (row.info.head - row.info.trimmed_through <= keep) continue;  // cannot hold too many
      std::int64_t cut = 0;
      {
        Stmt c = db.prepare(kRetentionCut);
        c.bind(1, row.id).bind(2, clamp_limit(request.topic_retention));
        if (!c.step()) continue;
        cut = c.i64(0);
      }
      db.prepare(kTrim).bind(1, row.id).bind(2, cut).run();
      db.prepare(kTrimmed).bind(1, row.id).bind(2, cut).run();
    }
  }
  return out;
}

std::shared_ptr<const Notification> notification_of(const Stmt& s) {
  auto n = std::make_shared<Notification>();
  n->id = from_db(s.i64(2));
  n->type = s.text(3);
  n->data = s.text(4);
  n->sender = s.text(5);
  n->created_at = from_unix_ms(s.i64(6));
  if (!s.is_null(7)) n->expires_at = from_unix_ms(s.i64(7));
  n->idempotency_key = s.text(8);
  return n;
}

ReadResult read_in(Db& db, const StreamId& stream, const ReadQuery& q, Epoch epoch) {
  ReadResult out;
  const StreamRow row = stream_row(db, stream, epoch);
  out.info = row.info;
  if (row.id == 0 || q.limit == 0 || q.before <= q.after) return out;
  Stmt s = db.prepare(q.order == ReadQuery::Order::ascending ? kReadAsc : kReadDesc);
  s.bind(1, row.id)
      .bind(2, clamp_seq(q.after))
      .bind(3, clamp_seq(q.before))
      .bind(4, to_unix_ms(q.now))
      .bind(5, clamp_limit(q.limit) + 1);  // one more row tells whether there is more
  std::map<NotificationId, std::shared_ptr<const Notification>> seen;  // shared, as in memory
  while (s.step()) {
    if (out.entries.size() == q.limit) {
      out.more = true;
      break;
    }
    auto& note = seen[from_db(s.i64(2))];
    if (!note) note = notification_of(s);
    out.entries.push_back(Entry{stream, from_db(s.i64(0)), s.i64(1) != 0, note});
  }
  return out;
}

// purge_expired as a chain of tasks, one batch of one step each (its own transaction, so
// other writes run between them): expired entries, expired notifications, old keys.
struct Purge {
  Worker* writer;
  std::int64_t now_ms;
  std::int64_t horizon_ms;  // idempotency keys created at or before it go
  std::int64_t batch;
  Completion<std::uint64_t> done;
  std::size_t step = 0;
  std::uint64_t entries = 0;
};

Task purge_task(std::shared_ptr<Purge> p) {
  Task t;
  t.run = [p](Db& db) -> std::function<void()> {
    db.prepare(kPurgeSteps[p->step])
        .bind(1, p->step == 2 ? p->horizon_ms : p->now_ms)
        .bind(2, p->batch)
        .run();
    const auto n = static_cast<std::uint64_t>(db.changes());
    return [p, n] {  // after the commit
      if (p->step == 0) p->entries += n;
      if (n < static_cast<std::uint64_t>(p->batch)) ++p->step;  // a short batch: step done
      if (p->step == std::size(kPurgeSteps)) return p->done(p->entries);
      p->writer->resubmit(purge_task(p));
    };
  };
  t.fail = [p](Status s) { p->done(std::move(s)); };
  return t;
}

class SqliteStoreImpl final : public SqliteStore {
 public:
  SqliteStoreImpl(SqliteOptions options, Epoch epoch)
      : options_(std::move(options)), epoch_(epoch) {
    std::unique_ptr<Db> reader_db = connect(options_);
    reader_db->exec("PRAGMA query_only = 1");
    any_preferences_ = has_preferences(*reader_db);
    checkpointer_ = std::make_unique<Checkpointer>(connect(options_), options_.checkpoint_frames);
    std::unique_ptr<Db> writer_db = connect(options_);
    checkpointer_->attach(*writer_db);
    writer_ = std::make_unique<Worker>(std::move(writer_db), Worker::Mode::write,
                                       options_.max_batch, options_.max_queued, "writer");
    reader_ = std::make_unique<Worker>(std::move(reader_db), Worker::Mode::read,
                                       options_.max_batch, options_.max_queued, "reader");
  }

  ~SqliteStoreImpl() override { close(); }

  Epoch epoch() const noexcept override { return epoch_; }

  void close() override {
    writer_->stop();  // first: the queued writes are committed
    reader_->stop();
    checkpointer_->stop();  // last: its connection's close copies the WAL into the file
  }

  SqliteStats stats() const override { return checkpointer_->stats(); }

  void ready(Done done) override {
    read_task<void>(std::move(done), [](Db& db) -> Result<void> {
      db.prepare(kPing).run();
      return {};
    });
  }

  void append(AppendRequest request, Completion<AppendResult> done) override {
    if (!request.notification) {
      return done(Status(Errc::invalid_argument, "append: the request carries no notification"));
    }
    write_task<AppendResult>(std::move(done), [r = std::move(request), epoch = epoch_](Db& db) {
      return append_in(db, r, epoch);
    });
  }

  void read(StreamId stream, ReadQuery q, Completion<ReadResult> done) override {
    read_task<ReadResult>(std::move(done), [stream = std::move(stream), q, epoch = epoch_](
                                               Db& db) -> Result<ReadResult> {
      return read_in(db, stream, q, epoch);
    });
  }

  void inbox_state(UserId user, TimePoint now, Completion<InboxState> done) override {
    read_task<InboxState>(std::move(done), [user = std::move(user), now,
                                            epoch = epoch_](Db& db) -> Result<InboxState> {
      InboxState state;
      const StreamRow row = stream_row(db, StreamId::inbox(user), epoch);
      state.info = row.info;
      {
        Stmt ack = db.prepare(kAckCursor);
        ack.bind(1, user);
        if (ack.step()) state.ack_cursor = from_db(ack.i64(0));
      }
      if (row.id != 0) {
        Stmt unread = db.prepare(kUnread);
        unread.bind(1, row.id).bind(2, to_unix_ms(now));
        if (unread.step()) state.unread = from_db(unread.i64(0));
      }
      return state;
    });
  }

  void mark_read(UserId user, std::vector<Seq> seqs, Completion<std::uint64_t> done) override {
    write_task<std::uint64_t>(std::move(done), [user = std::move(user), seqs = std::move(seqs),
                                                epoch = epoch_](Db& db) -> Result<std::uint64_t> {
      const StreamRow row = stream_row(db, StreamId::inbox(user), epoch);
      if (row.id == 0) return std::uint64_t{0};
      std::uint64_t changed = 0;
      if (seqs.empty()) {
        db.prepare(kMarkAll).bind(1, row.id).run();
        return static_cast<std::uint64_t>(db.changes());
      }
      for (Seq seq : seqs) {
        db.prepare(kMarkOne).bind(1, row.id).bind(2, clamp_seq(seq)).run();
        changed += static_cast<std::uint64_t>(db.changes());
      }
      return changed;
    });
  }

  // An empty `seqs` removes nothing (as in MemoryStore).
  void remove(UserId user, std::vector<Seq> seqs, Completion<std::uint64_t> done) override {
    write_task<std::uint64_t>(std::move(done), [user = std::move(user), seqs = std::move(seqs),
                                                epoch = epoch_](Db& db) -> Result<std::uint64_t> {
      const StreamRow row = stream_row(db, StreamId::inbox(user), epoch);
      std::uint64_t removed = 0;
      if (row.id == 0) return removed;
      for (Seq seq : seqs) {
        db.prepare(kRemove).bind(1, row.id).bind(2, clamp_seq(seq)).run();
        removed += static_cast<std::uint64_t>(db.changes());
      }
      return removed;
    });
  }

  void advance_ack_cursor(UserId user, Seq seq, Completion<Seq> done) override {
    write_task<Seq>(std::move(done), [user = std::move(user), seq](Db& db) -> Result<Seq> {
      Stmt s = db.prepare(kAdvanceAck);
      s.bind(1, user).bind(2, clamp_seq(seq));
      if (!s.step()) throw DbError(SQLITE_INTERNAL, "advance_ack_cursor returned no row");
      return from_db(s.i64(0));
    });
  }

  void subscribe(UserId user, std::string topic, Completion<bool> done) override {
    write_task<bool>(std::move(done), [user = std::move(user), topic = std::move(topic)](
                                          Db& db) -> Result<bool> {
      db.prepare(kSubscribe).bind(1, topic).bind(2, user).run();
      return db.changes() > 0;
    });
  }

  void unsubscribe(UserId user, std::string topic, Completion<bool> done) override {
    write_task<bool>(std::move(done), [user = std::move(user), topic = std::move(topic)](
                                          Db& db) -> Result<bool> {
      db.prepare(kUnsubscribe).bind(1, topic).bind(2, user).run();
      return db.changes() > 0;
    });
  }

  void subscribers(std::string topic, UserId after, std::size_t limit,
                   Completion<std::vector<UserId>> done) override {
    read_task<std::vector<UserId>>(std::move(done), [topic = std::move(topic),
                                                     after = std::move(after),
                                                     limit](Db& db) -> Result<std::vector<UserId>> {
      return texts(db.prepare(kSubscribers), topic, after, limit);
    });
  }

  void subscriptions(UserId user, std::string after, std::size_t limit,
                     Completion<std::vector<std::string>> done) override {
    read_task<std::vector<std::string>>(
        std::move(done), [user = std::move(user), after = std::move(after),
                          limit](Db& db) -> Result<std::vector<std::string>> {
          return texts(db.prepare(kSubscriptions), user, after, limit);
        });
  }

  void add_dead_letter(DeadLetter d, Done done) override {
    write_task<void>(std::move(done), [d = std::move(d)](Db& db) -> Result<void> {
      db.prepare(kAddDeadLetter)
          .bind(1, d.user)
          .bind(2, clamp_seq(d.seq))
          .bind(3, to_db(d.notification_id))
          .bind(4, static_cast<std::int64_t>(d.attempts))
          .bind(5, to_unix_ms(d.at))
          .bind(6, d.reason)
          .run();
      return {};
    });
  }

  void dead_letters(UserId user, Seq after, std::size_t limit,
                    Completion<std::vector<DeadLetter>> done) override {
    read_task<std::vector<DeadLetter>>(
        std::move(done),
        [user = std::move(user), after, limit](Db& db) -> Result<std::vector<DeadLetter>> {
          std::vector<DeadLetter> out;
          Stmt s = db.prepare(kDeadLetters);
          s.bind(1, user).bind(2, clamp_seq(after)).bind(3, clamp_limit(limit));
          while (s.step()) {
            DeadLetter d;
            d.user = s.text(0);
            d.seq = from_db(s.i64(1));
            d.notification_id = from_db(s.i64(2));
            d.attempts = static_cast<std::uint32_t>(s.i64(3));
            d.at = from_unix_ms(s.i64(4));
            d.reason = s.text(5);
            out.push_back(std::move(d));
          }
          return out;
        });
  }

  void remove_dead_letter(UserId user, Seq seq, Completion<bool> done) override {
    write_task<bool>(std::move(done), [user = std::move(user), seq](Db& db) -> Result<bool> {
      db.prepare(kRemoveDeadLetter).bind(1, user).bind(2, clamp_seq(seq)).run();
      return db.changes() > 0;
    });
  }

  void purge_expired(TimePoint now, Completion<std::uint64_t> done) override {
    auto p = std::make_shared<Purge>();
    p->writer = writer_.get();
    p->now_ms = to_unix_ms(now);
    p->horizon_ms = to_unix_ms(now - options_.idempotency_retention);
    p->batch = clamp_limit(options_.purge_batch);
    p->done = std::move(done);
    writer_->submit(purge_task(std::move(p)));
  }

  void set_preferences(UserId user, Preferences preferences, Done done) override {
    // Raised before the write, never lowered while open: a publish that starts after `done`
    // reads the preferences (a false one only ever means "none anywhere").
    if (!preferences.empty()) any_preferences_.store(true, std::memory_order_relaxed);
    write_task<void>(std::move(done), [user = std::move(user), p = std::move(preferences)](
                                          Db& db) -> Result<void> {
      put_preferences(db, user, p);
      return {};
    });
  }

  void preferences(std::vector<UserId> users,
                   Completion<std::vector<UserPreferences>> done) override {
    read_task<std::vector<UserPreferences>>(
        std::move(done), [users = std::move(users)](Db& db) -> Result<std::vector<UserPreferences>> {
          return get_preferences(db, users);
        });
  }

  bool any_preferences() const noexcept override {
    return any_preferences_.load(std::memory_order_relaxed);
  }

  void trim_inboxes(InboxRetention rule, Completion<std::uint64_t> done) override {
    write_task<std::uint64_t>(std::move(done), [rule](Db& db) -> Result<std::uint64_t> {
      return detail::trim_inboxes(db, rule);
    });
  }

  void topics(std::string after, std::size_t limit,
              Completion<std::vector<TopicCount>> done) override {
    read_task<std::vector<TopicCount>>(
        std::move(done),
        [after = std::move(after), limit](Db& db) -> Result<std::vector<TopicCount>> {
          std::vector<TopicCount> out;
          Stmt s = db.prepare(kTopics);
          s.bind(1, after).bind(2, clamp_limit(limit));
          while (s.step()) out.push_back({s.text(0), static_cast<std::uint64_t>(s.i64(1))});
          return out;
        });
  }

 private:
  // The first column of a keyset page: `key` = ?1, > ?2 (after), LIMIT ?3.
  static std::vector<std::string> texts(Stmt s, const std::string& key, const std::string& after,
                                        std::size_t limit) {
    std::vector<std::string> out;
    s.bind(1, key).bind(2, after).bind(3, clamp_limit(limit));
    while (s.step()) out.push_back(s.text(0));
    return out;
  }

  // A task whose `work(db)` yields the Result handed to `done`. One Completion shared by both
  // ends, so that the one that is called takes the executor with it (executor.hpp).
  template <class T, class Work>
  static Task task(Completion<T> done, Work work) {
    auto shared = std::make_shared<Completion<T>>(std::move(done));
    Task t;
    t.run = [shared, work = std::move(work)](Db& db) -> std::function<void()> {
      auto result = std::make_shared<Result<T>>(work(db));
      return [shared, result] { (*shared)(std::move(*result)); };
    };
    t.fail = [shared](Status s) { (*shared)(std::move(s)); };
    return t;
  }
  template <class T, class Work>
  void write_task(Completion<T> done, Work work) {
    writer_->submit(task<T>(std::move(done), std::move(work)));
  }
  template <class T, class Work>
  void read_task(Completion<T> done, Work work) {
    reader_->submit(task<T>(std::move(done), std::move(work)));
  }

  const SqliteOptions options_;
  const Epoch epoch_;
  std::unique_ptr<Checkpointer> checkpointer_;  // before writer_: its hook outlives the writer
  std::unique_ptr<Worker> writer_;
  std::unique_ptr<Worker> reader_;
  std::atomic<bool> any_preferences_{false};  // a user may have preferences
};

}  // namespace

std::shared_ptr<SqliteStore> SqliteStore::open(SqliteOptions options) {
  const Epoch epoch = prepare_database(options);
  const std::string path = options.path;
  try {
    return std::make_shared<SqliteStoreImpl>(std::move(options), epoch);
  } catch (const DbError& e) {
    throw Error("herald::sqlite: cannot open '" + path + "': " + e.what());
  }
}

std::shared_ptr<Store> open_store(SqliteOptions options) {
  return SqliteStore::open(std::move(options));
}

}  // namespace herald::sqlite
