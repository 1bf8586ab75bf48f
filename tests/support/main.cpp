// The main() of every test program: doctest's, plus one check. ctest runs each TEST_CASE
// by name (doctest_discover_tests); a name that reaches doctest cut or mangled matches no
// case, and doctest then reports success without running anything. Here a run in which
// no test case passed the filters fails instead.

#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>

namespace {

unsigned g_selected = 0;  // test cases that passed the filters in the last run

// A listener that only reads the run's statistics.
struct SelectedCounter : doctest::IReporter {
  explicit SelectedCounter(const doctest::ContextOptions&) {}
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats& stats) override {
    g_selected = stats.numTestCasesPassingFilters;
  }
  void test_case_start(const doctest::TestCaseData&) override {}
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats&) override {}
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}
};

}  // namespace

REGISTER_LISTENER("herald_selected_counter", 1, SelectedCounter);

int main(int argc, char** argv) {
  doctest::Context context(argc, argv);
  const int result = context.run();
  if (context.shouldExit()) return result;  // --help, --list-test-cases and other queries
  if (result == 0 && g_selected == 0) {
    std::fprintf(stderr,
                 "herald tests: no test case matched the filters, so nothing was tested "
                 "(a test name cut or mangled on its way from ctest?)\n");
    return 1;
  }
  return result;
}
