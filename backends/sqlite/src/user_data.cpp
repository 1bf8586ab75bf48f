#include "user_data.hpp"

#include <string>

namespace herald::sqlite::detail {
namespace {

const char* const kPutPreferences =
    "INSERT OR REPLACE INTO preferences (user_id, muted_types, muted_topics, critical_only) "
    "VALUES (?1, ?2, ?3, ?4)";
const char* const kDeletePreferences = "DELETE FROM preferences WHERE user_id = ?1";
const char* const kGetPreferences =
    "SELECT muted_types, muted_topics, critical_only FROM preferences WHERE user_id = ?1";
const char* const kAnyPreferences = "SELECT EXISTS (SELECT 1 FROM preferences)";

// Inbox streams are those named 'inbox:…': the name range ['inbox:', 'inbox;') in byte order.
// Age: entries of old notifications, found through entries_by_notification.
const char* const kTrimOld =
    "DELETE FROM entries WHERE (stream_id, seq) IN ("
    "SELECT e.stream_id, e.seq FROM entries e JOIN streams s ON s.id = e.stream_id "
    "WHERE e.notification_id < ?1 AND s.name >= 'inbox:' AND s.name < 'inbox;' LIMIT ?2)";
// Count: entries at or below the (max + 1)-th newest of an inbox whose head passed max.
const char* const kTrimMany =
    "DELETE FROM entries WHERE (stream_id, seq) IN ("
    "SELECT e.stream_id, e.seq FROM streams s JOIN entries e ON e.stream_id = s.id "
    "WHERE s.name >= 'inbox:' AND s.name < 'inbox;' AND s.head > ?1 AND e.seq <= "
    "(SELECT x.seq FROM entries x WHERE x.stream_id = s.id ORDER BY x.seq DESC "
    " LIMIT 1 OFFSET ?1) LIMIT ?2)";
// Old notifications no entry holds any more (their data is what takes the space).
const char* const kDropOrphans =
    "DELETE FROM notifications WHERE id IN (SELECT n.id FROM notifications n WHERE n.id < ?1 "
    "AND NOT EXISTS (SELECT 1 FROM entries e WHERE e.notification_id = n.id) LIMIT ?2)";

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) {
    if (!out.empty()) out += '\n';
    out += n;
  }
  return out;
}

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

}  // namespace

void put_preferences(Db& db, const UserId& user, const Preferences& p) {
  if (p.empty()) {
    db.prepare(kDeletePreferences).bind(1, user).run();
    return;
  }
  db.prepare(kPutPreferences)
      .bind(1, user)
      .bind(2, join(p.muted_types))
      .bind(3, join(p.muted_topics))
      .bind(4, std::int64_t{p.critical_only ? 1 : 0})
      .run();
}

std::vector<UserPreferences> get_preferences(Db& db, const std::vector<UserId>& users) {
  std::vector<UserPreferences> out;
  for (const UserId& user : users) {
    Stmt s = db.prepare(kGetPreferences);
    s.bind(1, user);
    if (!s.step()) continue;
    UserPreferences u;
    u.user = user;
    u.preferences.muted_types = split(s.text(0));
    u.preferences.muted_topics = split(s.text(1));
    u.preferences.critical_only = s.i64(2) != 0;
    out.push_back(std::move(u));
  }
  return out;
}

bool has_preferences(Db& db) {
  Stmt s = db.prepare(kAnyPreferences);
  return s.step() && s.i64(0) != 0;
}

std::uint64_t trim_inboxes(Db& db, const InboxRetention& rule) {
  const std::int64_t limit = clamp_limit(rule.limit);
  std::int64_t removed = 0;
  if (rule.before_id > 0) {
    db.prepare(kTrimOld).bind(1, to_db(rule.before_id)).bind(2, limit).run();
    removed += db.changes();
  }
  if (rule.max_entries > 0 && removed < limit) {
    db.prepare(kTrimMany).bind(1, clamp_limit(rule.max_entries)).bind(2, limit - removed).run();
    removed += db.changes();
  }
  if (rule.before_id > 0) db.prepare(kDropOrphans).bind(1, to_db(rule.before_id)).bind(2, limit).run();
  return static_cast<std::uint64_t>(removed);
}

}  // namespace herald::sqlite::detail
