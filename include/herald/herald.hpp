#pragma once
// Everything a host needs: the engine, the model, the interfaces, the in-memory backends and
// the version.

#include "herald/auth.hpp"
#include "herald/broker.hpp"
#include "herald/engine.hpp"
#include "herald/error.hpp"
#include "herald/events.hpp"
#include "herald/executor.hpp"
#include "herald/inproc.hpp"
#include "herald/memory.hpp"
#include "herald/metrics.hpp"
#include "herald/model.hpp"
#include "herald/preferences.hpp"
#include "herald/registry.hpp"
#include "herald/snowflake.hpp"
#include "herald/store.hpp"
#include "herald/time.hpp"
#include "herald/transport.hpp"
#include "herald/version.hpp"
