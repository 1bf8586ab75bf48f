"""Conan 2 recipe of herald: `conan create .` builds the libraries (no tests, examples or
benchmarks) and runs test_package/. Options mirror the CMake options:

    shared          BUILD_SHARED_LIBS
    fPIC            CMAKE_POSITION_INDEPENDENT_CODE
    with_websocket  HERALD_WITH_WEBSOCKET
    with_redis      HERALD_WITH_REDIS
    with_postgres   HERALD_WITH_POSTGRES
    with_sqlite     HERALD_WITH_SQLITE
    with_jwt        HERALD_WITH_JWT

Consumers use herald's own heraldConfig.cmake (find_package(herald CONFIG COMPONENTS …)), which
knows the components and their dependencies; Conan's CMakeDeps generates no herald config
(cmake_find_mode none) because its generated one would ignore COMPONENTS. The components below
mirror the CMake targets for the other generators (PkgConfigDeps, …).
"""
import os
import re

from conan import ConanFile
from conan.tools.build import check_min_cppstd
from conan.tools.cmake import CMake, CMakeDeps, CMakeToolchain, cmake_layout
from conan.tools.files import copy, load

required_conan_version = ">=2.0"


class HeraldConan(ConanFile):
    name = "herald"
    description = "Embeddable C++17 real-time notification engine"
    license = "MIT"
    topics = ("notifications", "websocket", "realtime", "pubsub")
    package_type = "library"
    settings = "os", "arch", "compiler", "build_type"
    options = {
        "shared": [True, False],
        "fPIC": [True, False],
        "with_websocket": [True, False],
        "with_redis": [True, False],
        "with_postgres": [True, False],
        "with_sqlite": [True, False],
        "with_jwt": [True, False],
    }
    default_options = {
        "shared": False,
        "fPIC": True,
        "with_websocket": True,
        "with_redis": False,
        "with_postgres": False,
        "with_sqlite": False,
        "with_jwt": False,
        # herald uses standalone Asio; websocketpp must not pull in Boost.Asio.
        "websocketpp/*:asio": "standalone",
    }
    exports_sources = ("CMakeLists.txt", "LICENSE", "cmake/*", "include/*", "src/*",
                       "backends/*")

    def set_version(self):
        # One source of truth: include/herald/version.hpp (CMakeLists.txt reads it too).
        text = load(self, os.path.join(self.recipe_folder, "include", "herald", "version.hpp"))
        parts = [re.search(rf"#define HERALD_VERSION_{p} (\d+)", text).group(1)
                 for p in ("MAJOR", "MINOR", "PATCH")]
        self.version = ".".join(parts)

    def config_options(self):
        if self.settings.os == "Windows":
            del self.options.fPIC

    def configure(self):
        if self.options.shared:
            self.options.rm_safe("fPIC")

    def layout(self):
        cmake_layout(self, src_folder=".")

    def requirements(self):
        # Ranges from the oldest versions herald builds with (Debian 12's) to the next major.
        # Header-only, used inside the libraries only (never in an installed header).
        self.requires("asio/[>=1.22 <2]")
        self.requires("nlohmann_json/[>=3.10 <4]")
        if self.options.with_websocket:
            self.requires("websocketpp/0.8.2")
            self.requires("http_parser/2.9.4")
            self.requires("openssl/[>=3 <4]")
        if self.options.with_redis:
            self.requires("hiredis/[>=0.14 <2]")
        if self.options.with_postgres:
            self.requires("libpq/[>=15 <17]")
        if self.options.with_sqlite:
            self.requires("sqlite3/[>=3.35 <4]")  # 3.35: RETURNING
        if self.options.with_jwt:
            self.requires("libjwt/[>=1.10 <2]")
            if not self.options.with_websocket:
                self.requires("openssl/[>=3 <4]")

    def validate(self):
        check_min_cppstd(self, 17)

    def generate(self):
        tc = CMakeToolchain(self)
        tc.cache_variables["HERALD_WITH_WEBSOCKET"] = bool(self.options.with_websocket)
        tc.cache_variables["HERALD_WITH_REDIS"] = bool(self.options.with_redis)
        tc.cache_variables["HERALD_WITH_POSTGRES"] = bool(self.options.with_postgres)
        tc.cache_variables["HERALD_WITH_SQLITE"] = bool(self.options.with_sqlite)
        tc.cache_variables["HERALD_WITH_JWT"] = bool(self.options.with_jwt)
        tc.cache_variables["HERALD_BUILD_TESTS"] = False
        tc.cache_variables["HERALD_BUILD_EXAMPLES"] = False
        tc.cache_variables["HERALD_BUILD_BENCH"] = False
        tc.cache_variables["HERALD_WARNINGS_AS_ERRORS"] = False
        tc.cache_variables["HERALD_INSTALL"] = True
        tc.generate()
        CMakeDeps(self).generate()

    def build(self):
        cmake = CMake(self)
        cmake.configure()
        cmake.build()

    def package(self):
        copy(self, "LICENSE", self.source_folder, os.path.join(self.package_folder, "licenses"))
        CMake(self).install()

    def package_info(self):
        # herald's own heraldConfig.cmake (found through builddirs) is the CMake interface.
        self.cpp_info.set_property("cmake_find_mode", "none")
        self.cpp_info.builddirs.append(os.path.join("lib", "cmake", "herald"))

        def component(name, requires):
            comp = self.cpp_info.components[name]
            comp.libs = [f"herald_{name}"]
            comp.requires = requires
            comp.set_property("cmake_target_name", f"herald::{name}")
            comp.set_property("pkg_config_name", f"herald-{name}")
            return comp

        core = component("core", ["asio::asio", "nlohmann_json::nlohmann_json"])
        if self.settings.os in ("Linux", "FreeBSD"):
            core.system_libs = ["pthread"]
        if self.options.with_websocket:
            component("websocket", ["core", "websocketpp::websocketpp",
                                    "http_parser::http_parser", "openssl::ssl"])
        if self.options.with_redis:
            component("redis", ["core", "hiredis::hiredis"])
        if self.options.with_postgres:
            component("postgres", ["core", "libpq::libpq"])
        if self.options.with_sqlite:
            component("sqlite", ["core", "sqlite3::sqlite3"])
        if self.options.with_jwt:
            component("jwt", ["core", "libjwt::libjwt", "openssl::crypto"])
