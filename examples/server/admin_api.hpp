#pragma once
// The admin routes of the REST API (docs/admin.md), for servers with an API key: disconnect
// a user everywhere, the topics with their subscriber counts, the instances with their load.
// The route table lives in rest_api.cpp; these are its entries for /admin/….

#include "rest_api.hpp"

namespace herald::server::admin {

/// POST /admin/users/{id}/disconnect, body empty or {"reason":"…"}.
void post_disconnect(RestApi::Call& c);
/// GET /admin/topics?after=&limit=
void get_topics(RestApi::Call& c);
/// GET /admin/instances
void get_instances(RestApi::Call& c);

}  // namespace herald::server::admin
