#pragma once
// HERALD_API marks what herald's libraries export. They are built with hidden visibility
// (-fvisibility=hidden -fvisibility-inlines-hidden), so a shared libherald_*.so exports only
// the classes and functions marked here; every class with a vtable that crosses the library
// boundary (interfaces, exceptions) is marked too, so that its typeinfo is shared and
// dynamic_cast / catch work in the host. In a static build the mark changes nothing.
//
// Only ELF/Mach-O toolchains (GCC, Clang) are supported: herald's transports are POSIX.

#if defined(__GNUC__) || defined(__clang__)
#define HERALD_API __attribute__((visibility("default")))
/// For an implementation class declared in a public header inside an exported class, which
/// would otherwise be exported with it (Engine::Impl).
#define HERALD_LOCAL __attribute__((visibility("hidden")))
#else
#define HERALD_API
#define HERALD_LOCAL
#endif
